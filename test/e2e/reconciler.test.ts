import { systemClock } from '../../src/clock.js';
import t from 'tap';
import type { ControlPlane } from '../cluster/control-plane.js';
import type { Json } from '../helpers/reviews.js';
import { controlPlaneOrSkip, waitFor } from './harness.js';

// The reconciler against a real API server: Service ports and the promtail
// ConfigMap follow the injected pods.

const TEMPLATE = { namespace: 'sre-quero', name: 'sre-quero-promtail-template', key: 'promtail.yaml' };
const cp = await controlPlaneOrSkip();

/** A pod as the webhook leaves it: the injected label and the status annotation. */
function injectedPod(name: string, labels: Record<string, string>, status: Json = {}): Json {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      labels: { ...labels, 'logging.sre-quero/injected': 'true' },
      annotations: { 'logging.sre-quero/status': JSON.stringify({ metricsPort: 9080, configMap: 'promtail-sidecar-config', ...status }) },
    },
    spec: { containers: [{ name: 'app', image: 'example/app:1' }] },
  };
}

function service(name: string, selector: Record<string, string> | undefined, ports: Json[] = [{ name: 'http', port: 80, targetPort: 8080 }], extra: Json = {}): Json {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, ...extra.metadata }, spec: { ...(selector ? { selector } : {}), ports, ...extra.spec } };
}

if (cp !== undefined) {
  // Loaded only with a cluster, so a skipped suite adds no uncovered files to the count.
  const { KubeConfig } = await import('@kubernetes/client-node');
  const { createLogger } = await import('../../src/logger.js');
  const { createMetrics } = await import('../../src/metrics.js');
  const { Reconciler } = await import('../../src/reconciler/reconciler.js');

  function startReconciler(controlPlane: ControlPlane) {
    const kc = new KubeConfig();
    kc.loadFromFile(controlPlane.kubeconfig);
    const metrics = createMetrics();
    const reconciler = new Reconciler({
      kc,
      logger: createLogger('silent'),
      metrics,
      clock: systemClock,
      defaults: { metricsPort: 9080, configMap: 'promtail-sidecar-config' },
      template: TEMPLATE,
      resyncIntervalMs: 60_000,
    });
    t.teardown(() => reconciler.stop());
    return { reconciler, metrics };
  }

  const api = cp.api;
  const getService = async (ns: string, name: string) => (await api('GET', `/api/v1/namespaces/${ns}/services/${name}`)).body as Json;
  const portNames = async (ns: string, name: string) => ((await getService(ns, name)).spec.ports as Json[]).map((p) => `${p.name}:${p.port}`).sort();
  const waitForPorts = (ns: string, name: string, expected: string[]) =>
    waitFor(`ports ${expected.join(',')} on ${ns}/${name}`, async () => {
      const names = await portNames(ns, name);
      return JSON.stringify(names) === JSON.stringify([...expected].sort()) ? names : undefined;
    }, 20_000);
  const create = async (ns: string, collection: string, body: Json) => {
    const reply = await api('POST', `/api/v1/namespaces/${ns}/${collection}`, body);
    if (reply.status !== 201) throw new Error(`create ${collection}: ${reply.status} ${JSON.stringify(reply.body)}`);
    return reply.body as Json;
  };
  const events = async (ns: string, name: string) =>
    ((await api('GET', `/api/v1/namespaces/${ns}/events?fieldSelector=involvedObject.name%3D${name}`)).body.items as Json[]).map((e) => e.message as string);

  await cp.createNamespace('sre-quero');
  await create('sre-quero', 'configmaps', { metadata: { name: TEMPLATE.name }, data: { [TEMPLATE.key]: 'clients: [{url: http://loki-a/push}]\n' } });
  await cp.createNamespace('shop');
  const { reconciler, metrics } = startReconciler(cp);
  await reconciler.start();
  t.ok(reconciler.isSynced(), 'caches synced after start');

  t.test('port added to a Service selecting injected pods, and removed when none is left', async (t) => {
    await create('shop', 'services', service('web', { app: 'web' }));
    await create('shop', 'pods', injectedPod('web-1', { app: 'web' }));
    await waitForPorts('shop', 'web', ['http:80', 'promtail-http:9080']);
    const port = ((await getService('shop', 'web')).spec.ports as Json[]).find((p) => p.name === 'promtail-http');
    t.same(port, { name: 'promtail-http', port: 9080, targetPort: 'promtail-http', protocol: 'TCP' });
    await api('DELETE', '/api/v1/namespaces/shop/pods/web-1?gracePeriodSeconds=0');
    await waitForPorts('shop', 'web', ['http:80']);
    t.pass('removed once no injected pod matches');
  });

  t.test('selector changes move the port', async (t) => {
    await create('shop', 'services', service('api', { app: 'api' }));
    await create('shop', 'pods', injectedPod('api-1', { app: 'api', tier: 'backend' }));
    await waitForPorts('shop', 'api', ['http:80', 'promtail-http:9080']);
    const reply = await api('PATCH', '/api/v1/namespaces/shop/services/api', { spec: { selector: { app: 'other' } } }, { contentType: 'application/merge-patch+json' });
    t.equal(reply.status, 200);
    await waitForPorts('shop', 'api', ['http:80']);
    t.pass('removed when the selector no longer matches');
  });

  t.test("an owner's re-apply keeps the app's ports and ours, without flapping", async (t) => {
    const manifest = service('shop-front', { app: 'front' }, [{ name: 'http', port: 80, targetPort: 8080 }, { name: 'admin', port: 8081 }]);
    const first = await cp.kubectl(['apply', '-n', 'shop', '-f', '-'], { input: JSON.stringify(manifest) });
    t.equal(first.status, 0, 'kubectl apply', { stderr: first.stderr });
    await create('shop', 'pods', injectedPod('front-1', { app: 'front' }));
    await waitForPorts('shop', 'shop-front', ['admin:8081', 'http:80', 'promtail-http:9080']);

    // The owner changes its own port and re-applies, client-side (Helm and Argo CD behave alike) and server-side.
    const changed = service('shop-front', { app: 'front' }, [{ name: 'http', port: 80, targetPort: 8081 }, { name: 'admin', port: 8081 }]);
    const clientSide = await cp.kubectl(['apply', '-n', 'shop', '-f', '-'], { input: JSON.stringify(changed) });
    t.equal(clientSide.status, 0);
    t.same(await portNames('shop', 'shop-front'), ['admin:8081', 'http:80', 'promtail-http:9080'], 'client-side apply keeps our port');
    // (Server-side apply keys list entries by port and protocol: spell the protocol out, as Helm does.)
    const withProtocols = { ...changed, spec: { ...changed.spec, ports: changed.spec.ports.map((p: Json) => ({ ...p, protocol: 'TCP' })) } };
    const serverSide = await cp.kubectl(['apply', '--server-side', '--field-manager=team-helm', '-n', 'shop', '-f', '-'], { input: JSON.stringify(withProtocols) });
    t.equal(serverSide.status, 0, 'server-side apply', { stderr: serverSide.stderr });
    t.same(await portNames('shop', 'shop-front'), ['admin:8081', 'http:80', 'promtail-http:9080'], 'server-side apply keeps our port');

    await reconciler.idle();
    const settled = (await getService('shop', 'shop-front')).metadata.resourceVersion;
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await reconciler.idle();
    t.equal((await getService('shop', 'shop-front')).metadata.resourceVersion, settled, 'no further writes: nothing flaps');
    t.equal(((await getService('shop', 'shop-front')).spec.ports as Json[]).find((p) => p.name === 'http')?.targetPort, 8081, "the owner's change stands");
  });

  t.test('conflicts are reported and left untouched', async (t) => {
    const cases: [string, Json, RegExp][] = [
      ['port-taken', service('port-taken', { app: 'taken' }, [{ name: 'metrics', port: 9080 }]), /port 9080 is already used by the Service's port "metrics"/],
      ['name-taken', service('name-taken', { app: 'named' }, [{ name: 'promtail-http', port: 9999 }]), /a port named "promtail-http" \(9999\) already exists/],
      ['headless', service('headless', { app: 'headless' }, [{ name: 'http', port: 80 }], { spec: { clusterIP: 'None' } }), /headless/],
      ['no-selector', service('no-selector', undefined, [{ name: 'http', port: 80 }]), /has no selector/],
    ];
    for (const [name, body] of cases) {
      await create('shop', 'services', body);
      if (body.spec.selector) await create('shop', 'pods', injectedPod(`${name}-1`, body.spec.selector));
    }
    for (const [name, body, message] of cases) {
      const seen = await waitFor(`an event on ${name}`, async () => {
        const messages = await events('shop', name);
        return messages.some((m) => message.test(m)) ? messages : undefined;
      });
      t.match(seen, [/^sre-quero left this Service alone: /], `${name}: event`);
      t.same((await getService('shop', name)).spec.ports.map((p: Json) => [p.name, p.port]), body.spec.ports.map((p: Json) => [p.name, p.port]), `${name}: untouched`);
    }
    const counted = await metrics.registry.getSingleMetricAsString('sre_quero_reconcile_conflicts_total');
    t.match(counted, /kind="Service",reason="port_in_use"} 1/);
    t.match(counted, /kind="Service",reason="name_in_use"} 1/);
    t.match(counted, /kind="Service",reason="headless"} 1/);
    t.match(counted, /kind="Service",reason="no_selector"} 1/);
  });

  t.test('a Service annotation opts it out: our port is removed and not added again', async (t) => {
    await create('shop', 'services', service('quiet', { app: 'quiet' }));
    await create('shop', 'pods', injectedPod('quiet-1', { app: 'quiet' }));
    await waitForPorts('shop', 'quiet', ['http:80', 'promtail-http:9080']);
    await api('PATCH', '/api/v1/namespaces/shop/services/quiet', { metadata: { annotations: { 'logging.sre-quero/service-port': 'false' } } }, { contentType: 'application/merge-patch+json' });
    await waitForPorts('shop', 'quiet', ['http:80']);
    await create('shop', 'pods', injectedPod('quiet-2', { app: 'quiet' }));
    await reconciler.idle();
    t.same(await portNames('shop', 'quiet'), ['http:80']);
  });

  t.test('ConfigMap: created where pods mount it, updated with the template, a team\'s own left alone', async (t) => {
    await cp.createNamespace('billing');
    await create('billing', 'pods', injectedPod('billing-1', { app: 'billing' }));
    const created = await waitFor('the managed ConfigMap', async () => {
      const reply = await api('GET', '/api/v1/namespaces/billing/configmaps/promtail-sidecar-config');
      return reply.status === 200 ? (reply.body as Json) : undefined;
    });
    t.equal(created.metadata.labels['app.kubernetes.io/managed-by'], 'sre-quero');
    t.same(created.data, { 'promtail.yaml': 'clients: [{url: http://loki-a/push}]\n' });

    const template = (await api('GET', `/api/v1/namespaces/sre-quero/configmaps/${TEMPLATE.name}`)).body as Json;
    template.data[TEMPLATE.key] = 'clients: [{url: http://loki-b/push}]\n';
    t.equal((await api('PUT', `/api/v1/namespaces/sre-quero/configmaps/${TEMPLATE.name}`, template)).status, 200);
    for (const ns of ['billing', 'shop']) {
      await waitFor(`the template change in ${ns}`, async () => {
        const reply = await api('GET', `/api/v1/namespaces/${ns}/configmaps/promtail-sidecar-config`);
        return reply.body?.data?.['promtail.yaml']?.includes('loki-b') ? true : undefined;
      });
    }
    t.pass('a template change reaches every namespace');

    await cp.createNamespace('own-config');
    await create('own-config', 'configmaps', { metadata: { name: 'promtail-sidecar-config' }, data: { 'promtail.yaml': 'mine' } });
    await create('own-config', 'pods', injectedPod('own-1', { app: 'own' }));
    await cp.createNamespace('custom-name');
    await create('custom-name', 'pods', injectedPod('custom-1', { app: 'custom' }, { configMap: 'team-promtail' }));
    await waitFor('the conflict event on the unmanaged ConfigMap', async () => ((await events('own-config', 'promtail-sidecar-config')).length > 0 ? true : undefined));
    await reconciler.idle();
    const own = (await api('GET', '/api/v1/namespaces/own-config/configmaps/promtail-sidecar-config')).body as Json;
    t.same(own.data, { 'promtail.yaml': 'mine' }, "the team's ConfigMap is untouched");
    t.notOk(own.metadata.labels?.['app.kubernetes.io/managed-by']);
    t.equal((await api('GET', '/api/v1/namespaces/custom-name/configmaps/promtail-sidecar-config')).status, 404, 'nothing made for pods naming their own ConfigMap');
    t.equal((await api('GET', '/api/v1/namespaces/custom-name/configmaps/team-promtail')).status, 404, "and theirs is not created for them");
  });

  t.test('escaped pods: a running pod without the sidecar, its namespace labelled enabled after it started', async (t) => {
    // Nothing runs here (no kubelet): the pod is bound to a Node object and its status set by hand, as a kubelet would.
    t.equal((await api('POST', '/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'escaped-node' } })).status, 201);
    await cp.createNamespace('late-label');
    const stored = await create('late-label', 'pods', { metadata: { name: 'before-install', labels: { app: 'old' } }, spec: { nodeName: 'escaped-node', containers: [{ name: 'app', image: 'example/app:1' }] } });
    const running = await api('PATCH', '/api/v1/namespaces/late-label/pods/before-install/status', { status: { phase: 'Running' } }, { contentType: 'application/merge-patch+json' });
    t.equal(running.status, 200, 'status set to Running', { body: running.body });
    await new Promise((resolve) => setTimeout(resolve, 1000));
    await reconciler.idle();
    const gauge = async () => (await metrics.registry.getSingleMetricAsString('sre_quero_escaped_pods')).split('\n').find((line) => line.startsWith('sre_quero_escaped_pods{namespace="late-label"'));
    t.equal(await gauge(), undefined, 'not counted while its namespace does not ask for injection');

    const labelled = await api('PATCH', '/api/v1/namespaces/late-label', { metadata: { labels: { 'logging.sre-quero/injection': 'enabled' } } }, { contentType: 'application/merge-patch+json' });
    t.equal(labelled.status, 200);
    t.equal(await waitFor('the gauge', async () => gauge(), 20_000), 'sre_quero_escaped_pods{namespace="late-label",reason="missing_sidecar"} 1', 'listed again once labelled, and counted');
    const podEvents = async () =>
      ((await api('GET', `/api/v1/namespaces/late-label/events?fieldSelector=involvedObject.name%3Dbefore-install`)).body.items as Json[]).filter((e) => e.reason === 'LoggingSidecarMissing');
    const [event] = await waitFor('the Event on the pod', async () => ((await podEvents()).length > 0 ? podEvents() : undefined));
    t.match(event, { type: 'Warning', involvedObject: { kind: 'Pod', name: 'before-install', uid: stored.metadata.uid }, message: /^This pod runs without the logging sidecar that its namespace asks for \(logging\.sre-quero\/injection=enabled\).*kubectl delete pod\/before-install -n late-label, then create it again/ });

    // Another change in the namespace reconciles it again: no second Event.
    await api('PATCH', '/api/v1/namespaces/late-label/pods/before-install', { metadata: { labels: { touched: 'yes' } } }, { contentType: 'application/merge-patch+json' });
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await reconciler.idle();
    t.equal((await podEvents()).length, 1, 'told once');

    await api('PATCH', '/api/v1/namespaces/late-label', { metadata: { labels: { 'logging.sre-quero/injection': null } } }, { contentType: 'application/merge-patch+json' });
    await waitFor('the gauge to clear', async () => ((await gauge()) === undefined ? true : undefined), 20_000);
    t.pass('the label removed: no longer counted');
  });

  t.test('restart converges: a new reconciler derives the same state from the cluster', async (t) => {
    await reconciler.stop();
    await create('shop', 'services', service('late', { app: 'late' }));
    await create('shop', 'pods', injectedPod('late-1', { app: 'late' }));
    await api('DELETE', '/api/v1/namespaces/shop/pods/front-1?gracePeriodSeconds=0');
    const restarted = startReconciler(cp).reconciler;
    await restarted.start();
    await waitForPorts('shop', 'late', ['http:80', 'promtail-http:9080']);
    await waitForPorts('shop', 'shop-front', ['admin:8081', 'http:80']);
    t.pass('changes made while it was down are applied');
  });
}
