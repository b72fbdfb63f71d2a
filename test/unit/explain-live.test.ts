import t from 'tap';
import { explainLive, formatLive } from '../../src/explain/explain-live.js';
import { ANNOTATIONS, DEFAULT_SETTINGS, injectPod, type PodTemplate } from '../../src/injection/index.js';
import { deployment, FakeCluster, template } from '../helpers/fake-cluster.js';
import type { Json } from '../helpers/reviews.js';

// `explain pod NAME` and `explain deployment NAME` against an in-memory
// cluster with deploy/base's webhook configuration and settings: injected,
// skipped, refused and never-sent pods, and what the answer says about each.

const OPT_IN = { [ANNOTATIONS.sidecar]: 'true' };
const injected = (podTemplate: Json, settings = DEFAULT_SETTINGS, mode: 'annotated' | 'enabled' = 'annotated'): Json => {
  const result = injectPod(podTemplate as PodTemplate, settings, mode);
  if (result.kind !== 'injected') throw new Error(`expected an injection, got ${result.kind}`);
  return result.pod as Json;
};

t.test('an injected pod of a Deployment: now injected, the entry called, today injected', async (t) => {
  const cluster = new FakeCluster().namespaceOf('shop');
  deployment(cluster, 'shop', 'web', template(OPT_IN), injected(template(OPT_IN)));
  const e = await explainLive(cluster, 'pod', 'shop', 'web-7d9f-abc');
  t.match(e, {
    subject: 'pod shop/web-7d9f-abc',
    now: { injected: true, agent: 'promtail', sidecarMode: 'classic', image: 'grafana/promtail:3.6.11' },
    namespace: { name: 'shop', label: undefined },
    evaluated: 'the pod template of ReplicaSet web-7d9f, which its next pod is made from',
    sentTo: 'annotated.injector.sre-quero.io (mode annotated)',
    settingsFrom: 'ConfigMap sre-quero/sre-quero-settings',
    decision: 'injected',
    reason: 'annotation_opt_in',
    agent: 'promtail, chosen by the settings (agent)',
    notes: [],
  });
  const text = formatLive(e);
  t.match(text, /^pod shop\/web-7d9f-abc\n  now: injected \(agent promtail, sidecar mode classic, image grafana\/promtail:3\.6\.11\)\n  namespace shop: no logging\.sre-quero\/injection label\n  webhook called: annotated\.injector\.sre-quero\.io \(mode annotated\)\n/);
  t.match(text, /\n    annotated\.injector\.sre-quero\.io \(sre-quero\): called: its namespaceSelector selects the namespace, and its matchConditions hold\n/);
  t.match(text, /\n  decision: injected \(annotation_opt_in\)\n    why: the pod template asks for it/);
});

t.test('a bare injected pod is explained as stored: already injected', async (t) => {
  const cluster = new FakeCluster().namespaceOf('shop');
  cluster.add('pod', 'shop', { ...injected(template(OPT_IN)), metadata: { ...injected(template(OPT_IN)).metadata, name: 'lonely' } });
  const e = await explainLive(cluster, 'pod', 'shop', 'lonely');
  t.match(e, { evaluated: 'the pod as stored (nothing recreates it from a template)', decision: 'skipped', reason: 'already_injected', change: 'nothing: injection is idempotent' });
});

t.test('a pod that escaped: not injected now, its namespace enabled since; the note says how to replace it', async (t) => {
  const cluster = new FakeCluster().namespaceOf('shop', { 'logging.sre-quero/injection': 'enabled' });
  deployment(cluster, 'shop', 'web', template());
  const e = await explainLive(cluster, 'pod', 'shop', 'web-7d9f-abc');
  t.match(e, { now: { injected: false }, decision: 'injected', reason: 'namespace_enabled', sentTo: 'enabled.injector.sre-quero.io (mode enabled)' });
  t.same(e.notes, [
    'this pod runs without the sidecar (created before its namespace or template asked for it, or while the webhook was unreachable); a new pod gets it: kubectl rollout restart deployment/web -n shop',
  ]);
  t.match(formatLive(e), /\n  now: not injected \(no sidecar and status annotation\)\n[\s\S]*\n  note: this pod runs without the sidecar/);
});

t.test('an injected pod with an older image or another agent than the settings give now', async (t) => {
  const cluster = new FakeCluster().namespaceOf('shop');
  const old = injected(template(OPT_IN), { ...DEFAULT_SETTINGS, images: { ...DEFAULT_SETTINGS.images, promtail: 'grafana/promtail:3.6.10' } });
  deployment(cluster, 'shop', 'web', template(OPT_IN), old);
  t.match((await explainLive(cluster, 'pod', 'shop', 'web-7d9f-abc')).notes, [/^this pod runs the sidecar image grafana\/promtail:3\.6\.10; a new pod gets grafana\/promtail:3\.6\.11: kubectl rollout restart deployment\/web -n shop$/]);
  cluster.configMaps.set('sre-quero/sre-quero-settings', { 'settings.yaml': 'agent: alloy\n' });
  const e = await explainLive(cluster, 'pod', 'shop', 'web-7d9f-abc');
  t.match(e.notes, [/^this pod runs the promtail sidecar; a new pod gets alloy: kubectl rollout restart deployment\/web -n shop$/]);
  t.equal(e.agent, 'alloy, chosen by the settings (agent)');
});

t.test('a refused Deployment (its pods never exist): the refusal, its message, and where the Event is', async (t) => {
  const cluster = new FakeCluster().namespaceOf('shop');
  cluster.add('deployment', 'shop', { metadata: { name: 'bad' }, spec: { template: template({ ...OPT_IN, [ANNOTATIONS.logPath]: '/etc' }) } });
  const e = await explainLive(cluster, 'deployment', 'shop', 'bad');
  t.match(e, { subject: 'deployment shop/bad', evaluated: 'the pod template of Deployment bad', decision: 'refused', reason: 'invalid_annotation', why: /^annotation logging\.sre-quero\/log-path: "\/etc" is not valid/ });
  t.notOk('now' in e, 'a workload has no "now"');
  t.same(e.notes, ['the webhook records this refusal as a Warning Event (LoggingSidecarRefused): kubectl get events -n shop --field-selector reason=LoggingSidecarRefused']);
});

t.test('skipped: opted out where enabled; not requested where the annotated entry is not even called', async (t) => {
  const cluster = new FakeCluster().namespaceOf('shop', { 'logging.sre-quero/injection': 'enabled' }).namespaceOf('plain');
  cluster.add('statefulset', 'shop', { metadata: { name: 'db' }, spec: { template: template({ [ANNOTATIONS.sidecar]: 'false' }) } });
  cluster.add('cronjob', 'plain', { metadata: { name: 'nightly' }, spec: { jobTemplate: { spec: { template: template() } } } });
  t.match(await explainLive(cluster, 'statefulset', 'shop', 'db'), { decision: 'skipped', reason: 'opted_out', sentTo: 'enabled.injector.sre-quero.io (mode enabled)' });
  const e = await explainLive(cluster, 'cronjob', 'plain', 'nightly');
  t.match(e, { decision: 'skipped', reason: 'not_requested', sentTo: /^none: annotated\.injector\.sre-quero\.io is left out by its matchConditions/, evaluated: 'the pod template of CronJob nightly' });
  t.match(e.change, /set logging\.sre-quero\/sidecar: "true" on the pod template/);
});

t.test('never sent: a disabled namespace, kube-system, sre-quero not installed, an objectSelector', async (t) => {
  const cluster = new FakeCluster().namespaceOf('quiet', { 'logging.sre-quero/injection': 'disabled' }).namespaceOf('kube-system');
  cluster.add('pod', 'quiet', { metadata: { name: 'p', annotations: OPT_IN }, spec: template().spec });
  cluster.add('pod', 'kube-system', { metadata: { name: 'p', annotations: OPT_IN }, spec: template().spec });
  t.match(await explainLive(cluster, 'pod', 'quiet', 'p'), {
    decision: 'not_sent',
    reason: 'namespace_excluded',
    sentTo: 'none',
    why: 'no sre-quero entry selects namespace quiet (labelled logging.sre-quero/injection=disabled)',
    change: /^remove the label \(kubectl label namespace quiet logging\.sre-quero\/injection-\)/,
  });
  t.match(await explainLive(cluster, 'pod', 'kube-system', 'p'), { reason: 'namespace_excluded', why: 'sre-quero is never called for kube-system', change: /^nothing/ });
  cluster.webhooks = [{ metadata: { name: 'other' }, webhooks: [{ name: 'other.example.com' }] }];
  const none = await explainLive(cluster, 'pod', 'quiet', 'p');
  t.match(none, { decision: 'not_sent', reason: 'not_installed', settingsFrom: 'ConfigMap sre-quero/sre-quero-settings' });
  t.match(formatLive(none), /\n  webhook called: none\n  settings:/);
  cluster.webhooks = [
    {
      metadata: { name: 'sre-quero' },
      webhooks: [{ name: 'enabled.injector.sre-quero.io', clientConfig: { url: 'https://x/mutate/enabled' }, rules: [{ operations: ['CREATE'], apiGroups: [''], resources: ['pods'] }], objectSelector: { matchLabels: { logs: 'on' } } }],
    },
  ];
  t.match(await explainLive(cluster, 'pod', 'quiet', 'p'), { reason: 'not_selected', why: "enabled.injector.sre-quero.io selects the namespace, but its objectSelector (logs=on) does not select the pod's labels" });
  cluster.namespaceOf('elsewhere');
  cluster.add('pod', 'elsewhere', { metadata: { name: 'p' }, spec: template().spec });
  cluster.webhooks = [{ metadata: { name: 'sre-quero' }, webhooks: [{ name: 'enabled.injector.sre-quero.io', rules: [], namespaceSelector: { matchLabels: { never: 'x' } } }] }];
  t.match(await explainLive(cluster, 'pod', 'elsewhere', 'p'), { reason: 'namespace_excluded', change: /namespaceSelectors leave it out/ });
});

t.test('the settings: the installed ConfigMap, a file, the defaults when unreadable or missing; a matchCondition not evaluated', async (t) => {
  const cluster = new FakeCluster().namespaceOf('shop');
  deployment(cluster, 'shop', 'web', template(OPT_IN));
  cluster.forbidden.add('configmap sre-quero/sre-quero-settings');
  t.equal((await explainLive(cluster, 'deployment', 'shop', 'web')).settingsFrom, 'the built-in defaults: not allowed to read ConfigMap sre-quero/sre-quero-settings (give --settings <file> for the installed ones)');
  cluster.forbidden.clear();
  cluster.configMaps.clear();
  t.equal((await explainLive(cluster, 'deployment', 'shop', 'web')).settingsFrom, 'the built-in defaults: ConfigMap sre-quero/sre-quero-settings not found');
  cluster.configMaps.set('platform/sre-quero-settings', { other: 'x' });
  t.equal((await explainLive(cluster, 'deployment', 'shop', 'web', { installNamespace: 'platform' })).settingsFrom, 'the built-in defaults: ConfigMap platform/sre-quero-settings has no settings.yaml');
  const settingsFile = new URL('../../deploy/base/settings.yaml', import.meta.url).pathname;
  await t.rejects(explainLive(cluster, 'deployment', 'shop', 'web', { settingsFile }), { code: 'SQ_SETTINGS_INVALID' }, 'a file that is not a settings file is refused as serve refuses it');
  cluster.configMaps.set('sre-quero/sre-quero-settings', { 'settings.yaml': 'agent: fluent-bit\n' });
  await t.rejects(explainLive(cluster, 'deployment', 'shop', 'web'), { code: 'SQ_SETTINGS_INVALID', message: /ConfigMap sre-quero\/sre-quero-settings \(settings\.yaml\)/ });
  cluster.forbidden.add('configmap sre-quero/sre-quero-settings');
  cluster.webhooks = [
    {
      metadata: { name: 'sre-quero' },
      webhooks: [
        {
          name: 'annotated.injector.sre-quero.io',
          clientConfig: { service: { namespace: 'sre-quero', name: 'sre-quero', path: '/mutate' } },
          rules: [{ operations: ['CREATE'], apiGroups: [''], resources: ['pods'] }],
          matchConditions: [{ name: 'not-canary', expression: "!object.metadata.name.startsWith('canary')" }],
        },
      ],
    },
  ];
  const e = await explainLive(cluster, 'deployment', 'shop', 'web');
  t.match(e, { decision: 'injected', notes: ['matchConditions not evaluated here, assumed to hold: not-canary'] });
});

t.test("a pod whose controller cannot be read is explained as stored, and says so; what it cannot read at all is an error", async (t) => {
  const cluster = new FakeCluster().namespaceOf('shop');
  deployment(cluster, 'shop', 'web', template(OPT_IN));
  cluster.forbidden.add('replicaset shop/web-7d9f');
  const e = await explainLive(cluster, 'pod', 'shop', 'web-7d9f-abc');
  t.match(e, { evaluated: 'the pod as stored', decision: 'injected' });
  t.match(e.notes[0], /^could not read ReplicaSet web-7d9f \(not allowed to read replicaset shop\/web-7d9f .*\): the pod as stored is explained instead$/);
  t.match(e.notes[1], /a new pod gets it: delete its pods .*replicaset\/web-7d9f creates new ones$/, 'the owner read fails there too: the ReplicaSet is named');
  await t.rejects(explainLive(cluster, 'pod', 'shop', 'nope'), { code: 'SQ_OBJECT_NOT_FOUND', message: 'pod nope in namespace shop not found (pods "nope" not found)' });
  cluster.forbidden.add('namespace shop');
  await t.rejects(explainLive(cluster, 'pod', 'shop', 'web-7d9f-abc'), { code: 'SQ_READ_FORBIDDEN' });
  const broken = new FakeCluster().namespaceOf('shop');
  broken.add('pod', 'shop', { metadata: { name: 'p', ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'x', controller: true }] }, spec: template().spec });
  broken.object = async (kind, namespace, name) => {
    if (kind === 'replicaset') throw new TypeError('a bug');
    return FakeCluster.prototype.object.call(broken, kind, namespace, name);
  };
  await t.rejects(explainLive(broken, 'pod', 'shop', 'p'), TypeError, 'not a read failure: not hidden');
});

t.test('two installs: the settings of the one whose entry serves the pod, else of the one deploy/ names', async (t) => {
  const cluster = new FakeCluster().namespaceOf('shop', { 'logging.sre-quero/injection': 'enabled' }).namespaceOf('scoped', { team: 'helm' });
  const second = structuredClone(cluster.webhooks[0]) as (typeof cluster.webhooks)[number];
  second.metadata = { name: 'a-second-release' };
  for (const entry of second.webhooks ?? []) {
    entry.clientConfig = { service: { namespace: 'platform', name: 'logging', path: entry.clientConfig?.service?.path as string } };
    entry.namespaceSelector = { matchLabels: { team: 'helm' } };
    delete entry.matchConditions;
  }
  cluster.webhooks = [second, ...cluster.webhooks];
  cluster.configMaps.set('platform/logging-settings', { 'settings.yaml': 'agent: alloy\n' });
  cluster.add('deployment', 'shop', { metadata: { name: 'web' }, spec: { template: template() } });
  cluster.add('deployment', 'scoped', { metadata: { name: 'web' }, spec: { template: template(OPT_IN) } });
  t.match(await explainLive(cluster, 'deployment', 'shop', 'web'), { settingsFrom: 'ConfigMap sre-quero/sre-quero-settings', sentTo: 'enabled.injector.sre-quero.io (mode enabled)' });
  t.match(await explainLive(cluster, 'deployment', 'scoped', 'web'), { settingsFrom: 'ConfigMap platform/logging-settings', agent: /^alloy/, sentTo: 'annotated.injector.sre-quero.io (mode annotated)' });
  cluster.webhooks = [second];
  t.match(await explainLive(cluster, 'deployment', 'shop', 'web'), { decision: 'not_sent', settingsFrom: 'ConfigMap platform/logging-settings' }, 'only the second: its Service');
});
