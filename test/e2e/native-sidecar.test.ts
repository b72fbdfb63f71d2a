import { randomUUID } from 'node:crypto';
import t, { type Test } from 'tap';
import type { Json } from '../helpers/reviews.js';
import { DRAIN_SECONDS } from '../../src/injection/shutdown.js';
import { waitFor } from './harness.js';
import { exactlyOnce } from './log-harness.js';
import { namespaceFor, nodeClusterOrSkip, type NodeCluster } from './node-harness.js';

// Native sidecars on the real node: the injected promtail runs as the first
// init container with restartPolicy Always, so a Job's pod completes, and the
// lines its app writes, the last one just before it exits included, reach
// Loki. A classic sidecar would keep the pod running for ever: such a pod is
// refused, and the Job says why.

const cluster = nodeClusterOrSkip();

const job = (cluster: NodeCluster, namespace: string, name: string, annotations: Record<string, string>, mark: string): Json => ({
  apiVersion: 'batch/v1',
  kind: 'Job',
  metadata: { name, namespace },
  spec: {
    backoffLimit: 0,
    template: {
      metadata: { labels: { app: name }, annotations: { 'logging.sre-quero/sidecar': 'true', ...annotations } },
      spec: {
        restartPolicy: 'Never',
        terminationGracePeriodSeconds: 10,
        containers: [
          {
            name: 'migrate',
            image: cluster.busyboxImage,
            imagePullPolicy: 'Never',
            command: ['sh', '-c', `for i in 1 2 3; do echo "step $i ${mark}" >> /var/log/app/job.log; sleep 1; done; echo "last ${mark}" >> /var/log/app/job.log`],
          },
        ],
      },
    },
  },
});

if (cluster !== undefined) {
  const { api, kubectl } = cluster;
  const lines = (mark: string) => ['step 1', 'step 2', 'step 3', 'last'].map((step) => `${step} ${mark}`);

  /** The event the Job controller records when the API server refuses the Job's pod. */
  const failedCreate = (ns: string, jobName: string) =>
    waitFor(`the FailedCreate event of Job ${jobName}`, async () => {
      const events = ((await api('GET', `/api/v1/namespaces/${ns}/events`)).body as Json).items as Json[];
      return events.find((e) => e.reason === 'FailedCreate' && e.involvedObject.kind === 'Job' && e.involvedObject.name === jobName);
    }, 30_000);

  const completes = async (t: Test, ns: string, name: string, initContainers = ['promtail']) => {
    const done = await waitFor(`Job ${name} complete`, async () => {
      const status = ((await api('GET', `/apis/batch/v1/namespaces/${ns}/jobs/${name}`)).body as Json).status ?? {};
      return (status.conditions ?? []).some((c: Json) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True') ? status : undefined;
    }, 90_000);
    t.equal(done.succeeded, 1, `Job ${name} succeeded`);
    t.ok((done.conditions as Json[]).some((c) => c.type === 'Complete'), 'condition Complete');
    const pods = ((await api('GET', `/api/v1/namespaces/${ns}/pods?labelSelector=job-name%3D${name}`)).body as Json).items as Json[];
    t.equal(pods.length, 1);
    const pod = pods[0] as Json;
    t.equal(pod.status.phase, 'Succeeded', 'the pod completed');
    t.same(pod.spec.initContainers.map((c: Json) => c.name), initContainers, 'the sidecar first among the init containers');
    t.equal(pod.spec.initContainers[0].restartPolicy, 'Always', 'the sidecar is a native one');
    t.same(pod.spec.containers.map((c: Json) => c.name), ['migrate']);
    // The sidecar kept shipping after the app exited (shutdown.ts): its
    // preStop sleep ran before the kubelet stopped it.
    t.same(pod.spec.initContainers[0].lifecycle, { preStop: { sleep: { seconds: DRAIN_SECONDS } } }, 'a preStop sleep on this v1.37 node');
    const finished = (statuses: Json[], name: string) => Date.parse(statuses.find((c) => c.name === name)?.state?.terminated?.finishedAt);
    const lag = (finished(pod.status.initContainerStatuses, 'promtail') - finished(pod.status.containerStatuses, pod.spec.containers[0].name)) / 1000;
    // finishedAt has whole seconds: a 3 s sleep shows as 2 s or more.
    t.ok(lag >= DRAIN_SECONDS - 1, `the sidecar stopped ${lag} s after the app`);
    return pod;
  };

  t.test('a Job with the native sidecar completes, and every line reaches Loki: its init container\'s, and the last one too', async (t) => {
    const ns = await namespaceFor(cluster, 'native-job');
    const mark = randomUUID();
    const manifest = job(cluster, ns, 'migrate', { 'logging.sre-quero/sidecar-mode': 'native', 'logging.sre-quero/containers': 'prepare,migrate' }, mark);
    manifest.spec.template.spec.initContainers = [
      { name: 'prepare', image: cluster.busyboxImage, imagePullPolicy: 'Never', command: ['sh', '-c', `echo "prepare ${mark}" >> /var/log/app/prepare.log`] },
    ];
    const created = await api('POST', `/apis/batch/v1/namespaces/${ns}/jobs`, manifest);
    t.equal(created.status, 201);
    const pod = await completes(t, ns, 'migrate', ['promtail', 'prepare']);
    t.match(JSON.parse(pod.metadata.annotations['logging.sre-quero/status']), { sidecarMode: 'native', sidecarModeFrom: 'annotation', containers: ['prepare', 'migrate'] });
    const expected = [`prepare ${mark}`, ...lines(mark)];
    t.same(await exactlyOnce(cluster.lokiUrl, `{namespace="${ns}", job="migrate", pod="${pod.metadata.name}"}`, mark, expected, 30_000), [...expected].sort(), 'all five lines, each once');
  });

  t.test("a CronJob's Job with the native sidecar completes with its lines in Loki", async (t) => {
    const ns = await namespaceFor(cluster, 'native-cron');
    const mark = randomUUID();
    const template = job(cluster, ns, 'nightly', { 'logging.sre-quero/sidecar-mode': 'native' }, mark);
    const cron = { apiVersion: 'batch/v1', kind: 'CronJob', metadata: { name: 'nightly', namespace: ns }, spec: { schedule: '0 3 * * *', jobTemplate: { spec: template.spec } } };
    t.equal((await api('POST', `/apis/batch/v1/namespaces/${ns}/cronjobs`, cron)).status, 201);
    // What the CronJob controller does at 03:00, now: a Job from its template.
    const run = await kubectl(['-n', ns, 'create', 'job', 'nightly-now', '--from=cronjob/nightly']);
    t.equal(run.status, 0, 'kubectl create job --from=cronjob/nightly', { stderr: run.stderr });
    const pod = await completes(t, ns, 'nightly-now');
    t.same(await exactlyOnce(cluster.lokiUrl, `{namespace="${ns}", pod="${pod.metadata.name}"}`, mark, lines(mark), 30_000), [...lines(mark)].sort());
  });

  t.test('sidecar-mode auto decides from the nodes: native on this v1.37 node; classic once a node reports v1.28', async (t) => {
    const ns = await namespaceFor(cluster, 'auto-mode');
    const mark = randomUUID();
    t.equal((await api('POST', `/apis/batch/v1/namespaces/${ns}/jobs`, job(cluster, ns, 'auto', { 'logging.sre-quero/sidecar-mode': 'auto' }, mark))).status, 201);
    const pod = await completes(t, ns, 'auto');
    t.match(JSON.parse(pod.metadata.annotations['logging.sre-quero/status']), { sidecarMode: 'native', sidecarModeFrom: 'annotation', sidecarModeReason: 'nodes_support_native' });
    t.same(await exactlyOnce(cluster.lokiUrl, `{namespace="${ns}", pod="${pod.metadata.name}"}`, mark, lines(mark), 30_000), [...lines(mark)].sort());

    // A node nothing can be scheduled on, reporting an old kubelet: what a cluster mid-upgrade looks like.
    const old = { apiVersion: 'v1', kind: 'Node', metadata: { name: 'sq-old-node' }, spec: { unschedulable: true, taints: [{ key: 'sre-quero.test/fake', effect: 'NoSchedule' }] } };
    t.equal((await api('POST', '/api/v1/nodes', old)).status, 201);
    t.teardown(() => api('DELETE', '/api/v1/nodes/sq-old-node'));
    const patched = await api('PATCH', '/api/v1/nodes/sq-old-node/status', { status: { nodeInfo: { kubeletVersion: 'v1.28.5' } } }, { contentType: 'application/merge-patch+json' });
    t.equal(patched.status, 200);
    const tryPod = async (name: string, nodeName?: string) => {
      const body = { apiVersion: 'v1', kind: 'Pod', metadata: { name, annotations: { 'logging.sre-quero/sidecar': 'true', 'logging.sre-quero/sidecar-mode': 'auto' } }, spec: { ...(nodeName ? { nodeName } : {}), containers: [{ name: 'web', image: cluster.busyboxImage }] } };
      const reply = await api('POST', `/api/v1/namespaces/${ns}/pods?dryRun=All`, body);
      return JSON.parse((reply.body as Json).metadata.annotations['logging.sre-quero/status']) as Json;
    };
    // Every webhook replica watches the nodes; the change reaches them within moments.
    const bound = await waitFor('the webhook to see the old node', async () => {
      const status = await tryPod('bound-to-old', 'sq-old-node');
      return status.sidecarMode === 'classic' ? status : undefined;
    }, 15_000);
    t.match(bound, { sidecarMode: 'classic', sidecarModeReason: 'node_too_old' }, 'a pod bound to the old node: classic');
    t.match(await tryPod('bound-to-new', pod.spec.nodeName), { sidecarMode: 'native', sidecarModeReason: 'nodes_support_native' }, 'a pod bound to the new node: native');
    t.match(await tryPod('unbound'), { sidecarMode: 'classic', sidecarModeReason: 'node_too_old' }, 'a pod the scheduler may put anywhere: classic');
    const refused = await api('POST', `/apis/batch/v1/namespaces/${ns}/jobs`, job(cluster, ns, 'auto-old', { 'logging.sre-quero/sidecar-mode': 'auto' }, mark));
    t.equal(refused.status, 201, 'the Job is stored; its pod is refused, saying why');
    const event = await failedCreate(ns, 'auto-old');
    t.match(event.message, /sidecar mode auto chose classic: a node runs a kubelet older than 1\.33/);
  });

  t.test('the same Job in classic mode: its pod is refused, and the Job says why and what to change', async (t) => {
    const ns = await namespaceFor(cluster, 'classic-job');
    const created = await api('POST', `/apis/batch/v1/namespaces/${ns}/jobs`, job(cluster, ns, 'migrate', {}, randomUUID()));
    t.equal(created.status, 201, 'the Job itself is stored');
    const event = await failedCreate(ns, 'migrate');
    t.match(event.message, /denied the request: restartPolicy Never \(a Job's pod\): a classic sidecar keeps running after the app exits/);
    t.match(event.message, /logging\.sre-quero\/sidecar-mode: "native"/);
    const pods = ((await api('GET', `/api/v1/namespaces/${ns}/pods`)).body as Json).items as Json[];
    t.same(pods, [], 'no pod that could never complete');
  });
}
