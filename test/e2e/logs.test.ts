import { randomUUID } from 'node:crypto';
import t, { type Test } from 'tap';
import { parse } from 'yaml';
import type { Json } from '../helpers/reviews.js';
import { waitFor } from './harness.js';
import { httpGet, isReady, namespaceFor, nodeClusterOrSkip, type NodeCluster } from './node-harness.js';

// Lines an app writes reach Loki, labelled, through the injected sidecar and
// the central template; Prometheus scrapes the sidecars through the Service
// port the reconciler adds. Real promtail, real Loki, real Prometheus, pods on
// the real node.

const cluster = nodeClusterOrSkip();

/** The streams Loki holds for `selector` with lines containing `needle`. */
async function lokiStreams(cluster: NodeCluster, selector: string, needle: string): Promise<{ stream: Record<string, string>; values: [string, string][] }[]> {
  const query = encodeURIComponent(`${selector} |= "${needle}"`);
  const start = (Date.now() - 10 * 60_000) * 1e6;
  const reply = await httpGet(`${cluster.lokiUrl}/loki/api/v1/query_range?query=${query}&start=${start}&limit=1000&direction=forward`);
  if (reply.status !== 200) throw new Error(`Loki answered ${reply.status}: ${reply.body}`);
  return (JSON.parse(reply.body) as Json).data.result;
}

async function prometheus(cluster: NodeCluster, query: string): Promise<Json[]> {
  const reply = await httpGet(`${cluster.prometheusUrl}/api/v1/query?query=${encodeURIComponent(query)}`);
  if (reply.status !== 200) throw new Error(`Prometheus answered ${reply.status}: ${reply.body}`);
  return (JSON.parse(reply.body) as Json).data.result as Json[];
}

/** A busybox app that serves HTTP and writes nothing until the test makes it. */
function app(name: string, namespace: string, annotations: Record<string, string>, replicas = 1): Json {
  return parse(`
apiVersion: apps/v1
kind: Deployment
metadata: {name: ${name}, namespace: ${namespace}}
spec:
  replicas: ${replicas}
  selector: {matchLabels: {app: ${name}}}
  template:
    metadata:
      labels: {app: ${name}}
      annotations: ${JSON.stringify(annotations)}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
        - name: web
          image: IMAGE
          imagePullPolicy: Never
          command: [sh, -c, 'mkdir -p /tmp/www && echo ok > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www']
          ports: [{name: http, containerPort: 8080}]
          readinessProbe: {httpGet: {path: /, port: http}, periodSeconds: 1}
`) as Json;
}

if (cluster !== undefined) {
  const { api, kubectl } = cluster;

  const deploy = async (t: Test, namespace: string, name: string, annotations: Record<string, string>, replicas = 1) => {
    const manifest = app(name, namespace, annotations, replicas);
    manifest.spec.template.spec.containers[0].image = cluster.busyboxImage;
    const service = { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace }, spec: { selector: { app: name }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] } };
    const applied = await kubectl(['apply', '-f', '-'], { input: `${JSON.stringify(manifest)}\n${JSON.stringify(service)}` });
    t.equal(applied.status, 0, `apply ${namespace}/${name}`, { stderr: applied.stderr });
    return waitFor(
      `${namespace}/${name} Ready`,
      async () => {
        const pods = ((await api('GET', `/api/v1/namespaces/${namespace}/pods?labelSelector=app%3D${name}`)).body as Json).items as Json[];
        const live = pods.filter((p) => !p.metadata.deletionTimestamp);
        return live.length === replicas && live.every(isReady) ? live : undefined;
      },
      60_000,
    );
  };
  const deployOne = async (t: Test, namespace: string, name: string, annotations: Record<string, string>): Promise<Json> =>
    (await deploy(t, namespace, name, annotations))[0] as Json;
  const write = async (t: Test, pod: Json, file: string, line: string) => {
    const exec = await kubectl(['-n', pod.metadata.namespace, 'exec', pod.metadata.name, '-c', 'web', '--', 'sh', '-c', `mkdir -p "$(dirname ${file})" && echo '${line}' >> ${file}`]);
    t.equal(exec.status, 0, `${pod.metadata.name} writes to ${file}`, { stderr: exec.stderr });
  };

  t.test('an annotated Deployment: a line written after readiness is in Loki within 30 s, with the pod\'s real labels', async (t) => {
    const ns = await namespaceFor(cluster, 'logs-annotated');
    const pod = await deployOne(t, ns, 'shop', { 'logging.sre-quero/sidecar': 'true' });
    const line = `GET /checkout 200 ${randomUUID()}`;
    await write(t, pod, '/var/log/app/access.log', line);
    const written = Date.now();
    const streams = await waitFor('the line in Loki', async () => {
      const found = await lokiStreams(cluster, `{namespace="${ns}"}`, line);
      return found.length > 0 ? found : undefined;
    }, 30_000);
    t.comment(`in Loki ${((Date.now() - written) / 1000).toFixed(1)} s after it was written`);
    t.equal(streams.length, 1, 'one stream');
    const [stream] = streams;
    t.match(stream?.stream, {
      namespace: ns,
      pod: pod.metadata.name,
      container: 'web',
      job: 'shop',
      node: pod.spec.nodeName,
      filename: '/var/log/app/access.log',
    });
    t.same(stream?.values.map(([, text]) => text), [line], 'the line, once');
  });

  t.test('a namespace labelled enabled: an unannotated pod ships its lines; an opted-out pod runs no sidecar and ships nothing', async (t) => {
    const ns = await namespaceFor(cluster, 'logs-enabled', { 'logging.sre-quero/injection': 'enabled' });
    const plain = await deployOne(t, ns, 'plain', {});
    const optedOut = await deployOne(t, ns, 'quiet', { 'logging.sre-quero/sidecar': 'false' });
    t.same(optedOut.spec.containers.map((c: Json) => c.name), ['web'], 'no sidecar in the opted-out pod');
    const mark = randomUUID();
    await write(t, plain, '/var/log/app/access.log', `plain ${mark}`);
    await write(t, optedOut, '/var/log/app/access.log', `quiet ${mark}`);
    const streams = await waitFor('the plain pod\'s line in Loki', async () => {
      const found = await lokiStreams(cluster, `{namespace="${ns}"}`, `plain ${mark}`);
      return found.length > 0 ? found : undefined;
    }, 30_000);
    t.equal(streams[0]?.stream.pod, plain.metadata.name);
    // The plain pod's line arrived; the opted-out pod's, written at the same time, must not.
    t.same(await lokiStreams(cluster, `{namespace="${ns}"}`, `quiet ${mark}`), [], 'nothing from the opted-out pod');
  });

  t.test('log-path and log-glob overrides: lines from the chosen folder and pattern arrive, others do not', async (t) => {
    const ns = await namespaceFor(cluster, 'logs-overrides');
    const pod = await deployOne(t, ns, 'api', {
      'logging.sre-quero/sidecar': 'true',
      'logging.sre-quero/log-path': '/srv/logs',
      'logging.sre-quero/log-glob': 'access-*.txt',
    });
    const mark = randomUUID();
    await write(t, pod, '/srv/logs/access-1.txt', `chosen ${mark}`);
    await write(t, pod, '/srv/logs/debug.log', `other-pattern ${mark}`);
    await write(t, pod, '/var/log/app/access.log', `default-folder ${mark}`);
    const streams = await waitFor('the chosen file\'s line in Loki', async () => {
      const found = await lokiStreams(cluster, `{namespace="${ns}"}`, `chosen ${mark}`);
      return found.length > 0 ? found : undefined;
    }, 30_000);
    t.equal(streams[0]?.stream.filename, '/srv/logs/access-1.txt');
    t.same(await lokiStreams(cluster, `{namespace="${ns}"}`, `other-pattern ${mark}`), [], 'a file outside the glob: nothing');
    t.same(await lokiStreams(cluster, `{namespace="${ns}"}`, `default-folder ${mark}`), [], 'the default folder, not shared: nothing');
  });

  t.test('Prometheus scrapes every injected pod through the promtail-http Service port; the target goes when the port does', async (t) => {
    const ns = await namespaceFor(cluster, 'logs-metrics');
    const pods = await deploy(t, ns, 'cart', { 'logging.sre-quero/sidecar': 'true' }, 2);
    const names = pods.map((p) => p.metadata.name as string).sort();
    const up = await waitFor('both sidecars up in Prometheus', async () => {
      const result = await prometheus(cluster, `up{namespace="${ns}"}`);
      const scraped = result.filter((r) => r.value[1] === '1').map((r) => r.metric.pod as string).sort();
      return JSON.stringify(scraped) === JSON.stringify(names) ? result : undefined;
    }, 60_000);
    t.same(up.map((r) => r.metric.service).sort(), ['cart', 'cart'], 'found through the Service');
    const series = await prometheus(cluster, `count by (pod) ({namespace="${ns}", __name__=~"promtail_.+"})`);
    t.same(series.map((r) => r.metric.pod).sort(), names, 'promtail_* series for each pod');

    // Without injected pods the reconciler removes the port, and the target goes.
    const scaled = await kubectl(['-n', ns, 'scale', 'deployment/cart', '--replicas=0']);
    t.equal(scaled.status, 0, 'scaled to zero', { stderr: scaled.stderr });
    await waitFor('the promtail-http port removed', async () => {
      const svc = (await api('GET', `/api/v1/namespaces/${ns}/services/cart`)).body as Json;
      return (svc.spec.ports as Json[]).some((p) => p.name === 'promtail-http') ? undefined : true;
    }, 60_000);
    await waitFor('no target left', async () => {
      const reply = JSON.parse((await httpGet(`${cluster.prometheusUrl}/api/v1/targets?state=active`)).body) as Json;
      return (reply.data.activeTargets as Json[]).some((target) => target.labels.namespace === ns) ? undefined : true;
    }, 60_000);
    t.pass('the target disappeared');
  });
}
