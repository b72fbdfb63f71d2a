import { randomUUID } from 'node:crypto';
import t from 'tap';
import type { Json } from '../helpers/reviews.js';
import { waitFor } from './harness.js';
import { apps, listeningAddresses, sidecarPid } from './log-harness.js';
import { httpGet, isReady, namespaceFor, nodeClusterOrSkip } from './node-harness.js';

// Pods that really run, on the real node, injected by sre-quero running
// in-cluster as deploy/ installs it (2 replicas behind its Service, called by
// the API server through that Service, its reconciler reaching the API server
// through the `kubernetes` Service).

const cluster = nodeClusterOrSkip();

if (cluster !== undefined) {
  const { api, kubectl } = cluster;
  const { deployOne } = apps(cluster);

  t.test('the node is Ready and runs the pinned Kubernetes release', async (t) => {
    const node = (await api('GET', `/api/v1/nodes/${cluster.node}`)).body as Json;
    t.equal(node.status.nodeInfo.kubeletVersion, `v${cluster.version}`);
    t.ok(node.status.conditions.some((c: Json) => c.type === 'Ready' && c.status === 'True'), 'Ready');
    const version = (await api('GET', '/version')).body as Json;
    t.equal(version.gitVersion, `v${cluster.version}`, 'kube-apiserver');
  });

  t.test('sre-quero runs as its Deployment: two Ready pods of its own image behind its Service', async (t) => {
    // Other files may be replacing a replica right now: wait for two live ones.
    const pods = await waitFor('two live webhook replicas', async () => {
      const items = ((await api('GET', '/api/v1/namespaces/sre-quero/pods?labelSelector=app.kubernetes.io%2Fname%3Dsre-quero')).body as Json).items as Json[];
      const live = items.filter((p) => !p.metadata.deletionTimestamp && isReady(p));
      return live.length === 2 ? live : undefined;
    }, 90_000);
    t.equal(pods.length, 2, 'two replicas');
    for (const pod of pods) {
      t.equal(pod.spec.containers[0].image, 'ghcr.io/sre-quero/sre-quero:0.1.0');
      t.equal(pod.spec.serviceAccountName, 'sre-quero');
    }
    const names = pods.map((p) => p.metadata.name).sort();
    const endpoints = await waitFor('both replicas as ready endpoints of the Service', async () => {
      const slices = ((await api('GET', '/apis/discovery.k8s.io/v1/namespaces/sre-quero/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Dsre-quero')).body as Json).items as Json[];
      const ready = slices.flatMap((slice) => slice.endpoints ?? []).filter((e: Json) => e.conditions.ready).map((e: Json) => e.targetRef.name as string).sort();
      return JSON.stringify(ready) === JSON.stringify(names) ? ready : undefined;
    });
    t.same(endpoints, names, 'both replicas are endpoints of the Service');
  });

  t.test('an annotated Deployment whose app has not logged yet runs Ready with its sidecar; promtail reads what the app writes', async (t) => {
    const ns = await namespaceFor(cluster, 'quiet-app');
    // Serves HTTP (readiness probe on it), writes no log line until asked to.
    const created = Date.now();
    const pod = await deployOne(t, ns, 'web', { 'logging.sre-quero/sidecar': 'true' });
    t.equal(pod.status.phase, 'Running');
    const seconds = (Date.now() - created) / 1000;
    t.ok(seconds <= 60, `Ready ${seconds.toFixed(1)} s after kubectl apply`);
    t.ok(pod.spec.containers.some((c: Json) => c.name === 'promtail'), 'the in-cluster webhook injected the sidecar');
    t.ok(pod.metadata.annotations['logging.sre-quero/status'], 'status annotation');
    t.ok(
      pod.status.containerStatuses.every((c: Json) => c.ready && c.state.running),
      'both containers running and ready',
    );

    const slice = await waitFor('the pod as a ready endpoint of its Service', async () => {
      const slices = ((await api('GET', `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Dweb`)).body as Json).items as Json[];
      const endpoint = slices.flatMap((s) => s.endpoints ?? []).find((e: Json) => e.targetRef?.name === pod.metadata.name);
      return endpoint?.conditions.ready === true ? endpoint : undefined;
    });
    t.same(slice.addresses, [pod.status.podIP], 'in the Service, not held out by the sidecar');

    const ports = await waitFor('the reconciler adding promtail-http to the Service', async () => {
      const svc = (await api('GET', `/api/v1/namespaces/${ns}/services/web`)).body as Json;
      const names = (svc.spec.ports as Json[]).map((p) => `${p.name}:${p.port}`).sort();
      return names.includes('promtail-http:9080') ? names : undefined;
    });
    t.same(ports, ['http:80', 'promtail-http:9080']);

    // The promtail-http port answers on the pod IP.
    const metricsUrl = `http://${pod.status.podIP}:9080/metrics`;
    const before = await httpGet(metricsUrl);
    t.equal(before.status, 200, 'promtail-http answers on the pod IP');
    t.equal((await httpGet(`http://${pod.status.podIP}:9080/ready`)).status, 200, "promtail's /ready with no file to tail yet");
    const pid = sidecarPid(pod.metadata.name);
    t.ok(pid, 'the sidecar runs promtail');
    const listening = listeningAddresses(pid as number);
    t.ok(listening.some((address) => address.endsWith(':9080')), `listens on 9080 (${listening.join(', ')})`);
    t.same(listening.filter((address) => !address.endsWith(':9080') && !address.startsWith('127.0.0.1:')), [], 'and on nothing else but loopback');

    // A line the app writes to the shared folder is read by promtail.
    const line = `GET /checkout ${randomUUID()}`;
    const exec = await kubectl(['-n', ns, 'exec', pod.metadata.name, '-c', 'web', '--', 'sh', '-c', `echo '${line}' >> /var/log/app/access.log`]);
    t.equal(exec.status, 0, 'the app writes to /var/log/app', { stderr: exec.stderr });
    const counted = await waitFor(
      'promtail counting the line',
      async () => {
        const metrics = (await httpGet(metricsUrl)).body;
        const sample = /^promtail_read_lines_total\{[^}]*path="\/var\/log\/app\/access\.log"[^}]*\} (\d+)/m.exec(metrics);
        return sample && Number(sample[1]) >= 1 ? Number(sample[1]) : undefined;
      },
      30_000,
    );
    t.equal(counted, 1, 'exactly the one line written');
  });
}
