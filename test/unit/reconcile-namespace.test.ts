import { createHash } from 'node:crypto';
import t from 'tap';
import type { ConflictEvent, ReconcilerApi, WriteOutcome } from '../../src/reconciler/api.js';
import type { ConfigMapLike } from '../../src/reconciler/config-maps.js';
import type { PodLike, ServiceLike, ServicePort } from '../../src/reconciler/model.js';
import { NamespaceReconciler } from '../../src/reconciler/reconcile-namespace.js';
import type { ReloadTarget } from '../../src/reconciler/sidecar-reload.js';
import { slimConfigMap, slimPod, slimService } from '../../src/reconciler/slim.js';

// One namespace's reconcile against fake caches and a fake API: every write
// it makes, every conflict it reports, and what it asks sidecars. No cluster.

const NS = 'shop';
const TEMPLATE = { namespace: 'sre-quero', name: 'sre-quero-promtail-template' };
/** The central template: a key per agent. */
const TEMPLATE_DATA = { 'promtail.yaml': 'clients: [{url: http://loki}]\n', 'config.alloy': 'loki.write "default" {\n  endpoint { url = "http://loki" }\n}\n' };
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const CONFIG_MAP = 'promtail-sidecar-config';
const OUR_PORT: ServicePort = { name: 'promtail-http', port: 9080, targetPort: 'promtail-http', protocol: 'TCP' };
const OWNED = [{ manager: 'sre-quero', operation: 'Apply', fieldsV1: { 'f:spec': { 'f:ports': { 'k:{"port":9080,"protocol":"TCP"}': {} } } } }];

const pod = (name: string, extra: { ip?: string; createdAt?: string; status?: object; labels?: Record<string, string> } = {}): PodLike => ({
  metadata: {
    name,
    namespace: NS,
    uid: `uid-${name}`,
    labels: { app: 'web', 'logging.sre-quero/injected': 'true', ...extra.labels },
    annotations: { 'logging.sre-quero/status': JSON.stringify(extra.status ?? { metricsPort: 9080, configMap: CONFIG_MAP }) },
    creationTimestamp: extra.createdAt ?? '2026-11-20T10:00:00Z',
  },
  ...(extra.ip ? { status: { podIP: extra.ip } } : {}),
});

/** An injected pod whose sidecar reads the team's own ConfigMap: only Service ports are at stake. */
const teamPod = (name: string): PodLike => pod(name, { status: { metricsPort: 9080, configMap: 'team-promtail' } });

const service = (name: string, spec: ServiceLike['spec'], managedFields?: unknown[], resourceVersion = '1'): ServiceLike =>
  ({ metadata: { name, namespace: NS, uid: `uid-${name}`, resourceVersion, ...(managedFields ? { managedFields } : {}) }, spec }) as ServiceLike;

class FakeApi implements ReconcilerApi {
  calls: string[] = [];
  events: ConflictEvent[] = [];
  serviceAnswer: WriteOutcome = { ok: true };
  configMapAnswer: WriteOutcome = { ok: true };
  stored: ConfigMapLike | undefined;
  failEvents = false;
  async applyServicePorts(namespace: string, name: string, ports: readonly ServicePort[]) {
    this.calls.push(`apply Service ${namespace}/${name} ${JSON.stringify(ports)}`);
    return this.serviceAnswer;
  }
  async applyConfigMap(namespace: string, name: string, data: Record<string, string>) {
    this.calls.push(`apply ConfigMap ${namespace}/${name} ${JSON.stringify(data)}`);
    return this.configMapAnswer;
  }
  async readConfigMap(namespace: string, name: string) {
    this.calls.push(`get ConfigMap ${namespace}/${name}`);
    return this.stored;
  }
  async createEvent(event: ConflictEvent) {
    this.calls.push(`event ${event.kind}/${event.name}`);
    if (this.failEvents) throw new Error('events are forbidden');
    this.events.push(event);
  }
}

function setup(state: { pods?: PodLike[]; services?: ServiceLike[]; configMap?: ConfigMapLike; template?: Record<string, string> | undefined } = {}) {
  const api = new FakeApi();
  const caches = {
    pods: state.pods ?? [],
    services: state.services ?? [],
    configMap: state.configMap,
    template: 'template' in state ? state.template : (TEMPLATE_DATA as Record<string, string>),
  };
  const conflicts: string[] = [];
  const logs: string[] = [];
  const reloads: ReloadTarget[][] = [];
  let now = Date.parse('2026-11-23T00:00:00Z');
  const reconciler = new NamespaceReconciler({
    api,
    caches: {
      pods: (namespace) => caches.pods.filter((p) => p.metadata?.namespace === namespace),
      services: (namespace) => caches.services.filter((s) => s.metadata?.namespace === namespace),
      managedConfigMap: (namespace, name) => (caches.configMap?.metadata?.namespace === namespace && caches.configMap.metadata.name === name ? caches.configMap : undefined),
      template: () => caches.template,
    },
    defaults: { metricsPort: 9080, configMap: CONFIG_MAP },
    template: TEMPLATE,
    log: { info: (_fields, message) => logs.push(`info ${message}`), warn: (_fields, message) => logs.push(`warn ${message}`) },
    onConflict: (kind, reason) => conflicts.push(`${kind}:${reason}`),
    requestReloads: (targets) => reloads.push([...targets]),
    now: () => now,
  });
  return { api, caches, reconciler, conflicts, logs, reloads, setNow: (ms: number) => (now = ms) };
}

t.test('a Service selecting injected pods gets our port, once per version of the Service', async (t) => {
  const { api, caches, reconciler, logs } = setup({ pods: [teamPod('web-1')], services: [service('web', { selector: { app: 'web' }, ports: [{ name: 'http', port: 80 }] })] });
  await reconciler.reconcile(NS);
  t.same(api.calls, [`apply Service shop/web ${JSON.stringify([OUR_PORT])}`]);
  t.same(logs, ['info service port applied']);
  await reconciler.reconcile(NS);
  t.equal(api.calls.length, 1, 'the same Service version is not written again while its watch event is on the way');
  caches.services = [service('web', { selector: { app: 'web' }, ports: [{ name: 'http', port: 80 }, OUR_PORT] }, OWNED, '2')];
  await reconciler.reconcile(NS);
  t.equal(api.calls.length, 1, 'the port is there: nothing to do');
});

t.test('the port is released when no injected pod is left, and a deleted Service is forgotten', async (t) => {
  const { api, reconciler, logs } = setup({ services: [service('web', { selector: { app: 'web' }, ports: [{ name: 'http', port: 80 }, OUR_PORT] }, OWNED)] });
  await reconciler.reconcile(NS);
  t.same(api.calls, ['apply Service shop/web []']);
  t.same(logs, ['info removing the promtail-http port sre-quero added', 'info service port released']);
  reconciler.forgetService(NS, 'web');
  await reconciler.reconcile(NS);
  t.equal(api.calls.length, 2, 'forgotten: written again (the Service came back with our port)');
});

t.test('a conflict is reported once per object and message: metric, log line, Event', async (t) => {
  const headless = service('db', { selector: { app: 'web' }, clusterIP: 'None', ports: [{ name: 'sql', port: 5432 }] });
  const { api, reconciler, conflicts, logs } = setup({ pods: [teamPod('web-1')], services: [headless] });
  await reconciler.reconcile(NS);
  await reconciler.reconcile(NS);
  t.same(conflicts, ['Service:headless']);
  t.same(logs, ['warn left alone: conflict']);
  t.same(api.events, [{ kind: 'Service', name: 'db', namespace: NS, uid: 'uid-db', message: 'the Service is headless (clusterIP: None); scrape the pods directly' }]);
  t.notOk(api.calls.some((c) => c.startsWith('apply')), 'nothing written');
});

t.test('write refusals: 409 and 422 are reported, 404 is ignored, anything else rejects (and the queue retries)', async (t) => {
  const web = service('web', { selector: { app: 'web' }, ports: [] });
  for (const [status, reason] of [[409, 'field_conflict'], [422, 'rejected']] as const) {
    const { api, reconciler, conflicts } = setup({ pods: [teamPod('web-1')], services: [web] });
    api.serviceAnswer = { ok: false, status, message: `refused with ${status}` };
    await reconciler.reconcile(NS);
    t.same(conflicts, [`Service:${reason}`], `${status}`);
    t.equal(api.events[0]?.message, `refused with ${status}`);
  }
  const gone = setup({ pods: [teamPod('web-1')], services: [web] });
  gone.api.serviceAnswer = { ok: false, status: 404, message: 'not found' };
  await gone.reconciler.reconcile(NS);
  t.same(gone.conflicts, [], '404: deleted meanwhile, nothing to report');
  const broken = setup({ pods: [teamPod('web-1')], services: [web] });
  broken.api.applyServicePorts = async () => {
    throw new Error('connect ECONNREFUSED');
  };
  await t.rejects(broken.reconciler.reconcile(NS), /ECONNREFUSED/);
});

t.test('an Event that cannot be created is logged, and the reconcile goes on', async (t) => {
  const { api, reconciler, logs } = setup({ pods: [teamPod('web-1')], services: [service('db', { clusterIP: 'None', selector: { app: 'web' } })] });
  api.failEvents = true;
  await reconciler.reconcile(NS);
  t.same(logs, ['warn left alone: conflict', 'warn could not record the event']);
});

t.test('ConfigMap: created from the template where pods mount it; updated later, and older sidecars asked to reload', async (t) => {
  const created = '2026-11-20T10:00:00Z';
  const { api, caches, reconciler, logs, reloads } = setup({ pods: [pod('web-1', { ip: '10.0.0.7', createdAt: created }), pod('web-2')] });
  await reconciler.reconcile(NS);
  t.same(api.calls, [`get ConfigMap shop/${CONFIG_MAP}`, `apply ConfigMap shop/${CONFIG_MAP} ${JSON.stringify(TEMPLATE_DATA)}`], 'looked up (not in the cache), then created with every key of the template');
  t.same(logs, ['info promtail ConfigMap created']);
  t.same(reloads, [], 'a new ConfigMap: every sidecar reads it at start');

  caches.configMap = { metadata: { name: CONFIG_MAP, namespace: NS, uid: 'cm', labels: { 'app.kubernetes.io/managed-by': 'sre-quero' } }, data: { ...TEMPLATE_DATA } };
  api.calls = [];
  await reconciler.reconcile(NS);
  t.same(api.calls, [], 'in the cache and current: no call at all');

  caches.template = { ...TEMPLATE_DATA, 'promtail.yaml': 'clients: [{url: http://loki-2}]\n' };
  await reconciler.reconcile(NS);
  t.same(api.calls, [`apply ConfigMap shop/${CONFIG_MAP} ${JSON.stringify(caches.template)}`]);
  t.same(
    reloads,
    [[{ key: 'shop/web-1/uid-web-1', namespace: NS, pod: 'web-1', agent: 'promtail', base: 'http://10.0.0.7:9080', configHash: sha256(caches.template['promtail.yaml'] as string) }]],
    'only the pod with an address is asked; a status without an agent is a promtail',
  );
});

t.test('ConfigMap: every key of the template, each agent asked to reload only when its own key changed', async (t) => {
  const promtail = pod('web-p', { ip: '10.0.0.7', status: { agent: 'promtail', metricsPort: 9080, configMap: CONFIG_MAP } });
  const alloy = pod('web-a', { ip: 'fd00::8', status: { agent: 'alloy', metricsPort: 9180, configMap: CONFIG_MAP } });
  const managed = (data: Record<string, string>): ConfigMapLike => ({ metadata: { name: CONFIG_MAP, namespace: NS, uid: 'cm', labels: { 'app.kubernetes.io/managed-by': 'sre-quero' } }, data });
  const { api, caches, reconciler, reloads } = setup({ pods: [promtail, alloy], configMap: managed({ ...TEMPLATE_DATA }) });

  const alloyConfig = 'loki.write "default" {\n  endpoint { url = "http://loki-2" }\n}\n';
  caches.template = { ...TEMPLATE_DATA, 'config.alloy': alloyConfig };
  await reconciler.reconcile(NS);
  t.same(api.calls, [`apply ConfigMap shop/${CONFIG_MAP} ${JSON.stringify(caches.template)}`]);
  t.same(reloads, [[{ key: 'shop/web-a/uid-web-a', namespace: NS, pod: 'web-a', agent: 'alloy', base: 'http://[fd00::8]:9180', configHash: sha256(alloyConfig) }]], 'config.alloy changed: only the alloy sidecar, with the SHA-256 of its new file');

  caches.configMap = managed({ ...caches.template });
  caches.template = { ...caches.template, 'promtail.yaml': 'clients: [{url: http://loki-2}]\n' };
  await reconciler.reconcile(NS);
  t.same(reloads[1]?.map((target) => [target.pod, target.agent, target.base]), [['web-p', 'promtail', 'http://10.0.0.7:9080']], 'promtail.yaml changed: only the promtail sidecar');

  caches.configMap = managed({ ...caches.template, 'extra.yaml': 'dropped from the template' });
  await reconciler.reconcile(NS);
  t.equal(api.calls.at(-1), `apply ConfigMap shop/${CONFIG_MAP} ${JSON.stringify(caches.template)}`, 'a key the template dropped goes too');
  t.equal(reloads.length, 2, 'no agent key changed: nobody asked');
});

t.test('ConfigMap: a template without the key an agent reads is said once per key, and the others still get theirs', async (t) => {
  const alloy = pod('web-a', { status: { agent: 'alloy', metricsPort: 9080, configMap: CONFIG_MAP } });
  const { api, reconciler, logs } = setup({ pods: [alloy, pod('web-p')], template: { 'promtail.yaml': TEMPLATE_DATA['promtail.yaml'] } });
  await reconciler.reconcile(NS);
  await reconciler.reconcile(NS);
  t.same(logs.filter((line) => line.startsWith('warn')), ['warn the sidecar template has no key config.alloy, which alloy sidecars read: they cannot start until it has one (deploy/base/promtail-template.yaml ships it)']);
  t.ok(api.calls.some((call) => call.startsWith('apply ConfigMap')), 'the ConfigMap is applied anyway: promtail sidecars need it');
  reconciler.templateChanged();
  await reconciler.reconcile(NS);
  t.equal(logs.filter((line) => line.startsWith('warn')).length, 2, 'said again after the template changed');
});

t.test('ConfigMap: a team\'s own of that name is left alone; pods with their own ConfigMap need none; a missing template is said once', async (t) => {
  const team = setup({ pods: [pod('web-1')] });
  team.api.stored = { metadata: { name: CONFIG_MAP, namespace: NS, uid: 'team-cm' }, data: { 'promtail.yaml': 'mine' } };
  await team.reconciler.reconcile(NS);
  t.same(team.conflicts, ['ConfigMap:not_managed']);
  t.notOk(team.api.calls.some((c) => c.startsWith('apply')));

  const own = setup({ pods: [pod('web-1', { status: { metricsPort: 9080, configMap: 'team-promtail' } })] });
  await own.reconciler.reconcile(NS);
  t.same(own.api.calls, [], 'nothing to do for a pod that names its own ConfigMap');

  const missing = setup({ pods: [pod('web-1')], template: undefined });
  await missing.reconciler.reconcile(NS);
  await missing.reconciler.reconcile(NS);
  t.same(missing.logs, ['warn promtail template ConfigMap missing; namespaces get no ConfigMap until it exists']);
  missing.reconciler.templateChanged();
  await missing.reconciler.reconcile(NS);
  t.equal(missing.logs.length, 2, 'said again after the template changed');

  const refused = setup({ pods: [pod('web-1')] });
  refused.api.configMapAnswer = { ok: false, status: 409, message: 'conflict with kubectl' };
  await refused.reconciler.reconcile(NS);
  t.same(refused.conflicts, ['ConfigMap:field_conflict']);
  const invalid = setup({ pods: [pod('web-1')] });
  invalid.api.configMapAnswer = { ok: false, status: 422, message: 'too big' };
  await t.rejects(invalid.reconciler.reconcile(NS), /too big/, 'anything but a conflict is retried');
});

t.test('the cut-down objects the caches keep reconcile exactly as the full ones', async (t) => {
  const full = {
    pods: [
      { ...pod('web-1', { ip: '10.0.0.7' }), spec: { containers: [{ name: 'app', image: 'nginx' }] } },
      { ...pod('web-2'), metadata: { ...pod('web-2').metadata, managedFields: [{ manager: 'kubectl', operation: 'Update', fieldsV1: {} }], annotations: { 'logging.sre-quero/status': '{"metricsPort":9090}', 'kubectl.kubernetes.io/last-applied-configuration': 'x'.repeat(5000) } } },
    ] as PodLike[],
    services: [
      service('web', { selector: { app: 'web' }, ports: [{ name: 'http', port: 80 }] }, [...OWNED, { manager: 'kubectl', operation: 'Update', fieldsV1: { 'f:spec': {} } }]),
      service('other', { selector: { app: 'other' }, ports: [{ name: 'http', port: 80 }, OUR_PORT] }, OWNED),
    ],
    configMap: { metadata: { name: CONFIG_MAP, namespace: NS, labels: { 'app.kubernetes.io/managed-by': 'sre-quero' }, managedFields: [{ manager: 'x' }] }, data: { 'promtail.yaml': 'old' } } as ConfigMapLike,
  };
  const slim = { pods: full.pods.map(slimPod), services: full.services.map(slimService), configMap: slimConfigMap(full.configMap) };
  t.notOk(JSON.stringify(slim).includes('last-applied'), 'other annotations dropped');
  t.notOk(JSON.stringify(slim).includes('kubectl'), 'other field managers dropped');
  t.notOk(JSON.stringify(slim).includes('nginx'), 'the pod spec dropped');
  const a = setup(full);
  const b = setup(slim);
  await a.reconciler.reconcile(NS);
  await b.reconciler.reconcile(NS);
  t.same(b.api.calls, a.api.calls, 'the same writes');
  t.same(b.conflicts, a.conflicts, 'the same conflicts');
  t.same(b.reloads, a.reloads, 'the same reloads');
  t.ok(a.api.calls.length >= 2, `and they did something: ${a.api.calls.join('; ')}`);
});
