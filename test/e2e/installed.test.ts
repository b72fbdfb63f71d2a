import t from 'tap';
import { parse } from 'yaml';
import type { Json } from '../helpers/reviews.js';
import { hasSidecar, pod, waitFor } from './harness.js';
import { isReady, namespaceFor, nodeClusterOrSkip } from './node-harness.js';

// The injection modes against sre-quero as deploy/ installs it (its
// Deployment's two replicas behind its Service, called by the API server
// through that Service), and what a platform team does to it on a normal day:
// a replica goes away during a rollout.

const SIDECAR = 'logging.sre-quero/sidecar';
const cluster = nodeClusterOrSkip();

if (cluster !== undefined) {
  const { api, kubectl } = cluster;
  const create = (namespace: string, body: Json) => api('POST', `/api/v1/namespaces/${namespace}/pods`, body);
  // Stored pods, never run: the image does not exist here, nothing pulls it.
  const stored = (name: string, annotations: Record<string, string> = {}) => pod(name, annotations, { nodeName: 'no-such-node' });

  t.test('modes: annotated, enabled, enforced and disabled namespaces, through the installed webhook', async (t) => {
    const plain = await namespaceFor(cluster, 'mode-plain');
    const enabled = await namespaceFor(cluster, 'mode-enabled', { 'logging.sre-quero/injection': 'enabled' });
    const enforced = await namespaceFor(cluster, 'mode-enforced', { 'logging.sre-quero/injection': 'enforced' });
    const disabled = await namespaceFor(cluster, 'mode-disabled', { 'logging.sre-quero/injection': 'disabled' });

    t.ok(hasSidecar((await create(plain, stored('annotated', { [SIDECAR]: 'true' }))).body), 'annotated pod injected');
    t.notOk(hasSidecar((await create(plain, stored('unannotated'))).body), 'unannotated pod left alone');
    t.ok(hasSidecar((await create(enabled, stored('plain'))).body), 'enabled namespace: every pod');
    t.notOk(hasSidecar((await create(enabled, stored('opted-out', { [SIDECAR]: 'false' }))).body), 'enabled namespace: opt-out honoured');
    const forced = await create(enforced, stored('wants-out', { [SIDECAR]: 'false' }));
    t.ok(hasSidecar(forced.body), 'enforced namespace: opt-out not honoured');
    t.match(forced.warnings, [/is not honoured: this namespace enforces the logging sidecar/], 'and the API says so');
    t.notOk(hasSidecar((await create(disabled, stored('asks', { [SIDECAR]: 'true' }))).body), 'disabled namespace: never called');

    const hostile = await kubectl(['apply', '-n', plain, '-f', '-'], { input: JSON.stringify(stored('hostile', { [SIDECAR]: 'true', 'logging.sre-quero/log-path': '/etc' })) });
    t.not(hostile.status, 0);
    t.match(hostile.stderr, /admission webhook "annotated\.injector\.sre-quero\.io" denied the request: annotation logging\.sre-quero\/log-path/);
    t.equal((await api('GET', `/api/v1/namespaces/${plain}/pods/hostile`)).status, 404, 'nothing stored');
  });

  t.test('a webhook replica deleted during a rollout: every new pod is injected, the Lease moves to a live replica', async (t) => {
    const ns = await namespaceFor(cluster, 'rollout');
    const deployment = (revision: string) =>
      parse(`
apiVersion: apps/v1
kind: Deployment
metadata: {name: shop, namespace: ${ns}}
spec:
  replicas: 4
  strategy: {rollingUpdate: {maxSurge: 4, maxUnavailable: 0}}
  selector: {matchLabels: {app: shop}}
  template:
    metadata:
      labels: {app: shop}
      annotations: {logging.sre-quero/sidecar: "true", revision: "${revision}"}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - {name: shop, image: ${cluster.busyboxImage}, imagePullPolicy: Never, command: [sh, -c, 'trap "exit 0" TERM; while true; do sleep 1; done']}
`) as Json;
    const apply = async (revision: string) => {
      const result = await kubectl(['apply', '-f', '-'], { input: JSON.stringify(deployment(revision)) });
      t.equal(result.status, 0, `apply revision ${revision}`, { stderr: result.stderr });
    };
    const podsOf = async () => ((await api('GET', `/api/v1/namespaces/${ns}/pods?labelSelector=app%3Dshop`)).body as Json).items as Json[];
    await apply('1');
    await waitFor('revision 1 running', async () => {
      const pods = await podsOf();
      return pods.length === 4 && pods.every(isReady) ? pods : undefined;
    }, 90_000);

    const lease = async () => ((await api('GET', '/apis/coordination.k8s.io/v1/namespaces/sre-quero/leases/sre-quero-reconciler')).body as Json).spec?.holderIdentity as string | undefined;
    const holder = await waitFor('a reconciler holding the Lease', async () => (await lease()) || undefined);
    const holderPod = holder.split('_')[0] as string;
    t.comment(`the Lease is held by ${holder}`);

    // Roll out and delete the leading replica (graceful: preStop, SIGTERM) at once.
    await apply('2');
    const deleted = await api('DELETE', `/api/v1/namespaces/sre-quero/pods/${holderPod}`);
    t.equal(deleted.status, 200, `deleted ${holderPod}`);

    const rolledOut = await waitFor('revision 2 complete', async () => {
      const pods = (await podsOf()).filter((p) => p.metadata.annotations.revision === '2');
      return pods.length === 4 && pods.every(isReady) ? pods : undefined;
    }, 120_000);
    for (const p of rolledOut) t.ok(hasSidecar(p), `${p.metadata.name} injected`);

    const next = await waitFor('the Lease held by another replica', async () => {
      const now = await lease();
      return now && !now.startsWith(`${holderPod}_`) ? now : undefined;
    }, 60_000);
    const webhookPods = ((await api('GET', '/api/v1/namespaces/sre-quero/pods?labelSelector=app.kubernetes.io%2Fname%3Dsre-quero')).body as Json).items as Json[];
    t.ok(webhookPods.some((p) => next.startsWith(`${p.metadata.name}_`) && !p.metadata.deletionTimestamp), `the Lease moved to a live replica (${next})`);
    await waitFor('two Ready webhook replicas again', async () => {
      const items = ((await api('GET', '/api/v1/namespaces/sre-quero/pods?labelSelector=app.kubernetes.io%2Fname%3Dsre-quero')).body as Json).items as Json[];
      const live = items.filter((p) => !p.metadata.deletionTimestamp && isReady(p));
      return live.length === 2 ? live : undefined;
    }, 90_000);
  });
}
