import { request } from 'node:https';
import t, { type Test } from 'tap';
import { parse } from 'yaml';
import type { Json } from '../helpers/reviews.js';
import { hasSidecar, waitFor } from './harness.js';
import { isReady, namespaceFor, nodeClusterOrSkip } from './node-harness.js';

// "Pods that escaped", against sre-quero as deploy/ installs it. The leading
// replica's reconciler reports them (sre_quero_escaped_pods, an Event on each
// pod), `sre-quero explain cluster` lists them with the command that replaces
// them, and after that command they are gone from the report. Two ways in:
//
// - pods that run in a namespace before it is labelled
//   logging.sre-quero/injection=enabled, and a pod whose sidecar is older than
//   the settings give;
// - pods created while the webhook is down (issue 11): the API server calls
//   the injector, the call fails, and failurePolicy: Ignore admits the pods
//   without the sidecar. The installed webhook cannot be taken down for one
//   namespace: its enabled entry takes every namespace labelled enabled (no
//   objectSelector, no matchConditions) and its Service and replicas are
//   shared by the files that run at the same time. So for the outage this
//   file's namespace is served by a copy of the installed enabled entry (read
//   from the cluster: same rules, path, timeout, caBundle, failurePolicy),
//   selected by the namespace's own name and pointing at a copy of the
//   installed Service in that namespace, where no replica runs: no
//   endpoints, what the API server meets when every replica is gone. The
//   API server's own fail-open counter for that entry shows it called the
//   injector and let the pods through. The outage ends as it would: the copy
//   goes and the namespace is labelled enabled, i.e. served by the installed
//   entry again, which injects the pods the reported rollout makes.
//
// Nothing else is touched: only this file's own namespaces are labelled or
// selected, so the other files, which run at the same time, are not affected.

const cluster = nodeClusterOrSkip();

if (cluster !== undefined) {
  const { api, kubectl } = cluster;
  const { main } = await import('../../src/cli.js');
  const explain = async (argv: string[]) => {
    const out = { stdout: '', stderr: '' };
    const code = await main(['explain', ...argv, '--kubeconfig', cluster.kubeconfig], { stdout: (text) => (out.stdout += text), stderr: (text) => (out.stderr += text), readStdin: () => '' });
    return { code, ...out };
  };

  /** The Lease holder's pod: the replica whose reconciler reports. */
  const leader = async (): Promise<Json | undefined> => {
    const holder = ((await api('GET', '/apis/coordination.k8s.io/v1/namespaces/sre-quero/leases/sre-quero-reconciler')).body as Json).spec?.holderIdentity as string | undefined;
    if (!holder) return undefined;
    const pod = await api('GET', `/api/v1/namespaces/sre-quero/pods/${holder.split('_')[0]}`);
    return pod.status === 200 && pod.body.status?.podIP ? (pod.body as Json) : undefined;
  };
  /** The leader's /metrics, from the host (the bridge reaches pod IPs). Its certificate names the Service, not the pod's IP: not verified here. */
  const leaderMetrics = async (): Promise<{ leader: string; text: string } | undefined> => {
    const pod = await leader();
    if (pod === undefined) return undefined;
    const text = await new Promise<string | undefined>((resolve) => {
      const req = request(`https://${pod.status.podIP}:8443/metrics`, { rejectUnauthorized: false, timeout: 5000 }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve(res.statusCode === 200 ? body : undefined));
      });
      req.on('timeout', () => req.destroy());
      req.on('error', () => resolve(undefined));
      req.end();
    });
    return text === undefined ? undefined : { leader: pod.metadata.name, text };
  };
  const escapedLines = (text: string, ns: string) =>
    text
      .split('\n')
      .filter((line) => line.startsWith(`sre_quero_escaped_pods{namespace="${ns}",`))
      .sort();
  const waitForGauge = (ns: string, expected: string[], what: string) =>
    waitFor(
      what,
      async () => {
        const metrics = await leaderMetrics();
        return metrics !== undefined && JSON.stringify(escapedLines(metrics.text, ns)) === JSON.stringify([...expected].sort()) ? metrics : undefined;
      },
      90_000,
      1000,
    );

  const podsOf = async (ns: string, selector: string) => ((await api('GET', `/api/v1/namespaces/${ns}/pods?labelSelector=${encodeURIComponent(selector)}`)).body as Json).items as Json[];
  const eventsOf = async (ns: string, name: string) =>
    ((await api('GET', `/api/v1/namespaces/${ns}/events?fieldSelector=${encodeURIComponent(`involvedObject.name=${name}`)}`)).body.items as Json[]).filter((e) =>
      ['LoggingSidecarMissing', 'LoggingSidecarOutdated'].includes(e.reason),
    );
  /** Deployment web: two busybox pods that stop at once on TERM. */
  const webDeployment = (ns: string) =>
    parse(`
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: ${ns}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - {name: web, image: ${cluster.busyboxImage}, imagePullPolicy: Never, command: [sh, -c, 'trap "exit 0" TERM; while true; do sleep 1; done']}
`) as Json;

  /** The Warning Event the report puts on each pod without the sidecar; `says`: words its message must hold too. */
  const missingSidecarEvents = async (t: Test, ns: string, pods: Json[], says?: string) => {
    for (const pod of pods) {
      const [event] = await waitFor(`the Event on ${pod.metadata.name}`, async () => ((await eventsOf(ns, pod.metadata.name)).length > 0 ? eventsOf(ns, pod.metadata.name) : undefined), 30_000);
      t.match(event, {
        type: 'Warning',
        reason: 'LoggingSidecarMissing',
        involvedObject: { kind: 'Pod', name: pod.metadata.name, uid: pod.metadata.uid },
        message: new RegExp(`^This pod runs without the logging sidecar that its namespace asks for \\(logging\\.sre-quero/injection=enabled\\).*${says === undefined ? '' : `${says}.*`}: kubectl rollout restart deployment/web -n ${ns}\\.`),
      });
    }
  };
  /** The fix the report gives, a rollout: the new pods of web carry the sidecar. */
  const rolloutInjects = async (t: Test, ns: string) => {
    const restarted = await kubectl(['rollout', 'restart', 'deployment/web', '-n', ns]);
    t.equal(restarted.status, 0, 'kubectl rollout restart', { stderr: restarted.stderr });
    const status = await kubectl(['rollout', 'status', 'deployment/web', '-n', ns, '--timeout=180s']);
    t.equal(status.status, 0, 'rolled out', { stdout: status.stdout, stderr: status.stderr });
    const after = (await podsOf(ns, 'app=web')).filter((p) => !p.metadata.deletionTimestamp);
    t.ok(after.length >= 2 && after.every(hasSidecar), 'the new pods carry the sidecar');
  };

  t.test('pods running before their namespace asked for injection, and an older sidecar: gauge, Events, explain cluster, fixed by a rollout', async (t) => {
    const ns = await namespaceFor(cluster, 'escaped');
    const deployment = webDeployment(ns);
    const applied = await kubectl(['apply', '-f', '-'], { input: JSON.stringify(deployment) });
    t.equal(applied.status, 0, 'kubectl apply', { stderr: applied.stderr });
    // A pod as an older sre-quero injected it: the label, a status naming another image, a container named promtail.
    const oldStatus = { sidecar: 'promtail', agent: 'promtail', sidecarMode: 'classic', sidecarModeFrom: 'settings', image: 'grafana/promtail:3.0.0', metricsPort: 9080, logPath: '/var/log/app', containers: ['app'], configMap: 'promtail-sidecar-config', reusedVolumes: [] };
    const old = await api('POST', `/api/v1/namespaces/${ns}/pods`, {
      metadata: { name: 'old-sidecar', labels: { app: 'old', 'logging.sre-quero/injected': 'true' }, annotations: { 'logging.sre-quero/status': JSON.stringify(oldStatus) } },
      spec: {
        terminationGracePeriodSeconds: 1,
        containers: ['app', 'promtail'].map((name) => ({ name, image: cluster.busyboxImage, imagePullPolicy: 'Never', command: ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 1; done'] })),
      },
    });
    t.equal(old.status, 201, 'created', { body: old.body });
    const before = await waitFor('two running web pods, without the sidecar', async () => {
      const pods = await podsOf(ns, 'app=web');
      return pods.length === 2 && pods.every(isReady) ? pods : undefined;
    }, 90_000);
    for (const pod of before) t.notOk(hasSidecar(pod), `${pod.metadata.name}: no sidecar (the namespace did not ask yet)`);
    await waitFor('the old-sidecar pod running', async () => ((await podsOf(ns, 'app=old')).every(isReady) ? true : undefined), 90_000);

    const labelled = await api('PATCH', `/api/v1/namespaces/${ns}`, { metadata: { labels: { 'logging.sre-quero/injection': 'enabled' } } }, { contentType: 'application/merge-patch+json' });
    t.equal(labelled.status, 200, 'the namespace now asks for every pod');

    const reported = await waitForGauge(
      ns,
      [`sre_quero_escaped_pods{namespace="${ns}",reason="missing_sidecar"} 2`, `sre_quero_escaped_pods{namespace="${ns}",reason="outdated_image"} 1`],
      'the gauge on the leading replica',
    );
    t.pass(`reported by ${reported.leader}`);

    await missingSidecarEvents(t, ns, before);
    const [outdated] = await waitFor('the Event on old-sidecar', async () => ((await eventsOf(ns, 'old-sidecar')).length > 0 ? eventsOf(ns, 'old-sidecar') : undefined), 30_000);
    t.match(outdated, { type: 'Normal', reason: 'LoggingSidecarOutdated', message: /^This pod runs the sidecar image grafana\/promtail:3\.0\.0; the settings give .* now\. .*kubectl delete pod\/old-sidecar/ });

    // Not at every resync: more changes in the namespace, still one Event per pod (unless the Lease moved meanwhile: a new leader tells once more).
    await api('PATCH', `/api/v1/namespaces/${ns}/pods/old-sidecar`, { metadata: { labels: { touched: 'yes' } } }, { contentType: 'application/merge-patch+json' });
    await new Promise((resolve) => setTimeout(resolve, 5000));
    if ((await leader())?.metadata.name === reported.leader) {
      for (const name of [...before.map((p) => p.metadata.name as string), 'old-sidecar']) t.equal((await eventsOf(ns, name)).length, 1, `${name}: told once`);
    } else t.comment('the Lease moved during the test (another file restarts replicas): the once-per-pod check is left out');

    const listed = await explain(['cluster', '-n', ns]);
    t.equal(listed.code, 0, listed.stderr);
    t.match(listed.stdout, /^settings: ConfigMap sre-quero\/sre-quero-settings\n/);
    t.match(listed.stdout, `\nnamespace ${ns} (logging.sre-quero/injection=enabled): 3 escaped pods\n`);
    t.match(listed.stdout, new RegExp(`\\n  Deployment web: missing_sidecar: ${before.map((p) => p.metadata.name).sort().join(', ')}\\n    runs without the logging sidecar[^\\n]*\\n    fix: kubectl rollout restart deployment/web -n ${ns}\\n`));
    t.match(listed.stdout, new RegExp(`\\n  Pod old-sidecar: outdated_image: old-sidecar\\n    runs the sidecar image grafana/promtail:3\\.0\\.0; [^\\n]*\\n    fix: kubectl delete pod/old-sidecar -n ${ns}, then create it again`));
    t.match(listed.stdout, /\n3 escaped pods in 1 namespace \(missing_sidecar 2, outdated_image 1\); sre-quero restarts nothing itself\n$/);
    const everywhere = await explain(['cluster']);
    t.equal(everywhere.code, 0, everywhere.stderr);
    t.match(everywhere.stdout, `\nnamespace ${ns} (logging.sre-quero/injection=enabled): 3 escaped pods\n`, 'in the cluster-wide list too');
    const onePod = await explain(['pod', before[0]?.metadata.name, '-n', ns]);
    t.equal(onePod.code, 0, onePod.stderr);
    t.match(onePod.stdout, `\n  note: this pod runs without the sidecar (created before its namespace or template asked for it, or while the webhook was unreachable); a new pod gets it: kubectl rollout restart deployment/web -n ${ns}\n`);

    // The fix, as the report says: a rollout makes new pods, which the webhook injects.
    await rolloutInjects(t, ns);
    await waitForGauge(ns, [`sre_quero_escaped_pods{namespace="${ns}",reason="outdated_image"} 1`], 'missing_sidecar gone from the gauge');
    const remaining = await explain(['cluster', '-n', ns]);
    t.match(remaining.stdout, `\nnamespace ${ns} (logging.sre-quero/injection=enabled): 1 escaped pod\n  Pod old-sidecar: outdated_image`);

    t.equal((await api('DELETE', `/api/v1/namespaces/${ns}/pods/old-sidecar?gracePeriodSeconds=0`)).status, 200);
    await waitForGauge(ns, [], 'the gauge empty for the namespace');
    t.match((await explain(['cluster', '-n', ns])).stdout, /\nno escaped pods: /);
  });

  /** The API server's own count of calls to `entry` that failed and were let through (failurePolicy: Ignore). */
  const failedOpen = async (entry: string): Promise<number> => {
    const reply = await api<string>('GET', '/metrics');
    if (reply.status !== 200 || typeof reply.body !== 'string') throw new Error(`GET /metrics on the API server: ${reply.status}`);
    const line = reply.body.split('\n').find((l) => l.startsWith('apiserver_admission_webhook_fail_open_count{') && l.includes(`name="${entry}"`) && l.includes('type="admit"'));
    return line === undefined ? 0 : Number(line.split(' ').at(-1));
  };
  const MUTATING = '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations';

  t.test('pods created while the webhook is down: admitted without the sidecar (fail open), then gauge, Events, explain cluster, fixed by a rollout', async (t) => {
    const ns = await namespaceFor(cluster, 'escaped-down');
    // The installed webhook, as the API server has it; its enabled entry and Service are copied for the outage.
    const installed = await api('GET', `${MUTATING}/sre-quero`);
    t.equal(installed.status, 200, 'the installed MutatingWebhookConfiguration sre-quero');
    const enabledEntry = (installed.body.webhooks as Json[]).find((w) => w.name === 'enabled.injector.sre-quero.io');
    if (enabledEntry === undefined) throw new Error('the installed sre-quero has no entry enabled.injector.sre-quero.io');
    t.equal(enabledEntry.failurePolicy, 'Ignore', 'the installed entry fails open: what lets pods through while it is down');
    const service = (await api('GET', '/api/v1/namespaces/sre-quero/services/sre-quero')).body as Json;
    t.ok(service.spec?.selector, 'the installed Service');

    // The same Service in this namespace: it selects sre-quero's replicas, and none runs here.
    const down = await api('POST', `/api/v1/namespaces/${ns}/services`, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'sre-quero', labels: service.metadata.labels },
      spec: { type: 'ClusterIP', selector: service.spec.selector, ports: service.spec.ports.map(({ name, port, targetPort, protocol }: Json) => ({ name, port, targetPort, protocol })) },
    });
    t.equal(down.status, 201, 'a Service without endpoints', { body: down.body });
    const endpoints = ((await api('GET', `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices?labelSelector=${encodeURIComponent('kubernetes.io/service-name=sre-quero')}`)).body.items as Json[]) ?? [];
    t.notOk(endpoints.some((slice) => (slice.endpoints ?? []).length > 0), 'no replica behind it');

    const entry = 'enabled.escaped-down.sre-quero.io';
    const configuration = `sre-quero-escaped-down-${ns}`;
    const failedAtStart = await failedOpen(entry);
    const created = await api('POST', MUTATING, {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingWebhookConfiguration',
      metadata: { name: configuration },
      webhooks: [
        {
          ...enabledEntry,
          name: entry,
          clientConfig: { caBundle: enabledEntry.clientConfig.caBundle, service: { ...enabledEntry.clientConfig.service, namespace: ns } },
          namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } },
        },
      ],
    });
    t.equal(created.status, 201, 'the injector entry for this namespace, down', { body: created.body });
    let removed = false;
    const removeEntry = async () => {
      if (removed) return;
      removed = true;
      await api('DELETE', `${MUTATING}/${configuration}`);
    };
    t.teardown(removeEntry);

    // The API server reads webhook configurations through an informer: dry-run creations until it calls the entry (and fails open).
    const probe = { apiVersion: 'v1', kind: 'Pod', metadata: { generateName: 'dry-run-' }, spec: { containers: [{ name: 'app', image: cluster.busyboxImage }] } };
    await waitFor('the API server calling the entry', async () => {
      const reply = await api('POST', `/api/v1/namespaces/${ns}/pods?dryRun=All`, probe);
      return reply.status === 201 && (await failedOpen(entry)) > failedAtStart ? true : undefined;
    }, 60_000, 500);
    const failedBefore = await failedOpen(entry);

    // The outage: the ReplicaSet controller creates the pods, the API server cannot reach the injector.
    const applied = await kubectl(['apply', '-f', '-'], { input: JSON.stringify(webDeployment(ns)) });
    t.equal(applied.status, 0, 'kubectl apply', { stderr: applied.stderr });
    const escaped = await waitFor('two running web pods', async () => {
      const pods = await podsOf(ns, 'app=web');
      return pods.length === 2 && pods.every(isReady) ? pods : undefined;
    }, 90_000);
    for (const pod of escaped) {
      const containers = [...(pod.spec.initContainers ?? []), ...pod.spec.containers].map((c: Json) => c.name as string);
      t.strictSame(containers, ['web'], `${pod.metadata.name}: admitted and running without the sidecar`);
      t.equal(pod.metadata.annotations?.['logging.sre-quero/status'], undefined, `${pod.metadata.name}: no sre-quero status annotation (no webhook answered)`);
    }
    const failedAfter = await failedOpen(entry);
    t.ok(failedAfter - failedBefore >= escaped.length, `the API server failed open for each pod (apiserver_admission_webhook_fail_open_count{name="${entry}"}: ${failedBefore} -> ${failedAfter})`);

    // The outage ends: the copy goes, the namespace is served by the installed entry (labelled enabled), as it would have been all along.
    await removeEntry();
    const labelled = await api('PATCH', `/api/v1/namespaces/${ns}`, { metadata: { labels: { 'logging.sre-quero/injection': 'enabled' } } }, { contentType: 'application/merge-patch+json' });
    t.equal(labelled.status, 200, 'the namespace labelled enabled');

    const reported = await waitForGauge(ns, [`sre_quero_escaped_pods{namespace="${ns}",reason="missing_sidecar"} 2`], 'the gauge on the leading replica');
    t.pass(`reported by ${reported.leader}`);
    await missingSidecarEvents(t, ns, escaped, 'while the webhook was unreachable');

    const listed = await explain(['cluster', '-n', ns]);
    t.equal(listed.code, 0, listed.stderr);
    t.match(listed.stdout, `\nnamespace ${ns} (logging.sre-quero/injection=enabled): 2 escaped pods\n`);
    t.match(listed.stdout, new RegExp(`\\n  Deployment web: missing_sidecar: ${escaped.map((p) => p.metadata.name).sort().join(', ')}\\n    runs without the logging sidecar[^\\n]*\\n    fix: kubectl rollout restart deployment/web -n ${ns}\\n`));
    t.match(listed.stdout, /\n2 escaped pods in 1 namespace \(missing_sidecar 2\); sre-quero restarts nothing itself\n$/);
    const everywhere = await explain(['cluster']);
    t.equal(everywhere.code, 0, everywhere.stderr);
    t.match(everywhere.stdout, `\nnamespace ${ns} (logging.sre-quero/injection=enabled): 2 escaped pods\n`, 'in the cluster-wide list too');

    // The fix the report gives: the webhook is back, so the new pods are injected.
    await rolloutInjects(t, ns);
    await waitForGauge(ns, [], 'the gauge empty for the namespace');
    t.match((await explain(['cluster', '-n', ns])).stdout, /\nno escaped pods: /);
  });
}
