import t from 'tap';
import { explainCluster, formatCluster } from '../../src/explain/explain-cluster.js';
import { ANNOTATIONS, DEFAULT_SETTINGS, injectPod, type PodTemplate } from '../../src/injection/index.js';
import { deployment, FakeCluster, template } from '../helpers/fake-cluster.js';
import type { Json } from '../helpers/reviews.js';

// `explain cluster`: escaped pods by namespace and by the workload to
// restart, with the command, against an in-memory cluster.

const oldImage = (): Json => {
  const settings = { ...DEFAULT_SETTINGS, images: { ...DEFAULT_SETTINGS.images, promtail: 'grafana/promtail:3.6.10' } };
  const result = injectPod(template({ [ANNOTATIONS.sidecar]: 'true' }) as PodTemplate, settings, 'annotated');
  if (result.kind !== 'injected') throw new Error('expected an injection');
  return result.pod as Json;
};

function cluster(): FakeCluster {
  const fake = new FakeCluster()
    .namespaceOf('shop', { 'logging.sre-quero/injection': 'enabled' })
    .namespaceOf('payments', { 'logging.sre-quero/injection': 'enforced' })
    .namespaceOf('plain')
    .namespaceOf('sre-quero', { 'logging.sre-quero/injection': 'enabled' });
  deployment(fake, 'shop', 'web', template());
  fake.add('pod', 'shop', { metadata: { name: 'web-7d9f-def', ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-7d9f', controller: true }] }, spec: template().spec, status: { phase: 'Running' } });
  fake.add('pod', 'shop', { metadata: { name: 'opted-out', annotations: { [ANNOTATIONS.sidecar]: 'false' } }, spec: template().spec, status: { phase: 'Running' } });
  fake.add('pod', 'payments', { metadata: { name: 'lonely' }, spec: template().spec, status: { phase: 'Running' } });
  fake.add('pod', 'payments', { metadata: { name: 'finished' }, spec: template().spec, status: { phase: 'Succeeded' } });
  deployment(fake, 'plain', 'api', template({ [ANNOTATIONS.sidecar]: 'true' }), oldImage());
  fake.add('pod', 'sre-quero', { metadata: { name: 'sre-quero-1' }, spec: template().spec, status: { phase: 'Running' } });
  return fake;
}

t.test('every escaped pod, grouped by namespace and owner, with the command', async (t) => {
  const fake = cluster();
  const report = await explainCluster(fake);
  t.same(report.counts, { missing_sidecar: 3, outdated_agent: 0, outdated_image: 1 });
  t.match(report.namespaces, [
    { name: 'payments', label: 'enforced', groups: [{ owner: { kind: 'Pod', name: 'lonely' }, reason: 'missing_sidecar', pods: ['lonely'], fix: /^kubectl delete pod\/lonely -n payments/ }] },
    { name: 'plain', label: undefined, groups: [{ owner: { kind: 'Deployment', name: 'api' }, reason: 'outdated_image', pods: ['api-7d9f-abc'], fix: 'kubectl rollout restart deployment/api -n plain' }] },
    { name: 'shop', label: 'enabled', groups: [{ owner: { kind: 'Deployment', name: 'web' }, reason: 'missing_sidecar', pods: ['web-7d9f-abc', 'web-7d9f-def'], fix: 'kubectl rollout restart deployment/web -n shop' }] },
  ]);
  t.equal(fake.calls.filter((call) => call === 'replicaset shop/web-7d9f').length, 1, "one read of the ReplicaSet's owner for its two pods");
  const text = formatCluster(report);
  t.match(text, /^settings: ConfigMap sre-quero\/sre-quero-settings\nnamespace payments \(logging\.sre-quero\/injection=enforced\): 1 escaped pod\n  Pod lonely: missing_sidecar: lonely\n    runs without the logging sidecar/);
  t.match(text, /\nnamespace shop \(logging\.sre-quero\/injection=enabled\): 2 escaped pods\n  Deployment web: missing_sidecar: web-7d9f-abc, web-7d9f-def\n    runs without [^\n]+\n    fix: kubectl rollout restart deployment\/web -n shop\n/);
  t.match(text, /\nnamespace plain: 1 escaped pod\n  Deployment api: outdated_image: api-7d9f-abc\n    runs the sidecar image grafana\/promtail:3\.6\.10; the settings give grafana\/promtail:3\.6\.11 now\n/);
  t.match(text, /\n4 escaped pods in 3 namespaces \(missing_sidecar 3, outdated_image 1\); sre-quero restarts nothing itself\n$/);
});

t.test('-n: one namespace; none escaped: says so', async (t) => {
  const fake = cluster();
  const shop = await explainCluster(fake, { namespace: 'shop' });
  t.same(shop.namespaces.map((ns) => ns.name), ['shop']);
  t.notOk(fake.calls.includes('injected pods'), 'no cluster-wide list');
  const plain = await explainCluster(fake, { namespace: 'plain' });
  t.same(plain.counts, { missing_sidecar: 0, outdated_agent: 0, outdated_image: 1 }, 'an unlabelled namespace: only out-of-date sidecars');
  const quiet = await explainCluster(new FakeCluster().namespaceOf('shop', { 'logging.sre-quero/injection': 'enabled' }));
  t.match(formatCluster(quiet), /^settings: ConfigMap sre-quero\/sre-quero-settings\nno escaped pods: every running pod in namespaces labelled logging\.sre-quero\/injection=enabled or enforced carries the sidecar/);
  const one = await explainCluster(cluster(), { namespace: 'payments' });
  t.match(formatCluster(one), /\n1 escaped pod in 1 namespace \(missing_sidecar 1\)/);
});
