import { randomUUID } from 'node:crypto';
import t from 'tap';
import { parse } from 'yaml';
import type { Json } from '../helpers/reviews.js';
import { waitFor } from './harness.js';
import { apps, exactlyOnce, lokiStreams, prometheus, sidecarPid, teamConfigMap } from './log-harness.js';
import { httpGet, namespaceFor, nodeClusterOrSkip } from './node-harness.js';

// Lines an app writes reach Loki, labelled, through the injected sidecar and
// the central template; Prometheus scrapes the sidecars through the Service
// port the reconciler adds. Real promtail, real Loki, real Prometheus, pods on
// the real node.

const cluster = nodeClusterOrSkip();

if (cluster !== undefined) {
  const { api, kubectl } = cluster;
  const { deploy, deployOne, write } = apps(cluster);

  t.test('an annotated Deployment: a line written after readiness is in Loki within 30 s, with the pod\'s real labels', async (t) => {
    const ns = await namespaceFor(cluster, 'logs-annotated');
    const pod = await deployOne(t, ns, 'shop', { 'logging.sre-quero/sidecar': 'true' });
    const line = `GET /checkout 200 ${randomUUID()}`;
    await write(t, pod, '/var/log/app/access.log', line);
    const written = Date.now();
    const streams = await waitFor('the line in Loki', async () => {
      const found = await lokiStreams(cluster.lokiUrl, `{namespace="${ns}"}`, line);
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
    await write(t, optedOut, '/var/log/app/access.log', `quiet ${mark}`);
    await write(t, plain, '/var/log/app/access.log', `plain ${mark}`);
    const streams = await waitFor('the plain pod\'s line in Loki', async () => {
      const found = await lokiStreams(cluster.lokiUrl, `{namespace="${ns}"}`, `plain ${mark}`);
      return found.length > 0 ? found : undefined;
    }, 30_000);
    t.equal(streams[0]?.stream.pod, plain.metadata.name);
    // The plain pod's line arrived; the opted-out pod's, written before it, must not.
    t.same(await lokiStreams(cluster.lokiUrl, `{namespace="${ns}"}`, `quiet ${mark}`), [], 'nothing from the opted-out pod');
  });

  t.test('log-path and log-glob overrides: lines from the chosen folder and pattern arrive, others do not', async (t) => {
    const ns = await namespaceFor(cluster, 'logs-overrides');
    const pod = await deployOne(t, ns, 'api', {
      'logging.sre-quero/sidecar': 'true',
      'logging.sre-quero/log-path': '/srv/logs',
      'logging.sre-quero/log-glob': 'access-*.txt',
    });
    const mark = randomUUID();
    // The lines that must not arrive first: once the chosen one (written last) is
    // in Loki, a sidecar that read them would have shipped them already.
    await write(t, pod, '/srv/logs/debug.log', `other-pattern ${mark}`);
    await write(t, pod, '/var/log/app/access.log', `default-folder ${mark}`);
    await write(t, pod, '/srv/logs/access-1.txt', `chosen ${mark}`);
    const streams = await waitFor('the chosen file\'s line in Loki', async () => {
      const found = await lokiStreams(cluster.lokiUrl, `{namespace="${ns}"}`, `chosen ${mark}`);
      return found.length > 0 ? found : undefined;
    }, 30_000);
    t.equal(streams[0]?.stream.filename, '/srv/logs/access-1.txt');
    t.same(await lokiStreams(cluster.lokiUrl, `{namespace="${ns}"}`, `other-pattern ${mark}`), [], 'a file outside the glob: nothing');
    t.same(await lokiStreams(cluster.lokiUrl, `{namespace="${ns}"}`, `default-folder ${mark}`), [], 'the default folder, not shared: nothing');
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

  t.test('the sidecar restarts (its process killed): no line shipped twice, none lost (positions on their emptyDir)', async (t) => {
    const ns = await namespaceFor(cluster, 'logs-restart');
    const pod = await deployOne(t, ns, 'orders', { 'logging.sre-quero/sidecar': 'true' });
    const mark = randomUUID();
    const lines = Array.from({ length: 20 }, (_, i) => `line ${i} ${mark}`);
    for (const line of lines.slice(0, 10)) await write(t, pod, '/var/log/app/access.log', line);
    t.same(await exactlyOnce(cluster.lokiUrl, `{namespace="${ns}"}`, mark, lines.slice(0, 10), 30_000), [...lines.slice(0, 10)].sort(), 'the first ten arrived');

    const pid = sidecarPid(pod.metadata.name);
    t.ok(pid, `promtail runs as host pid ${pid}`);
    process.kill(pid as number, 'SIGTERM');
    for (const line of lines.slice(10)) await write(t, pod, '/var/log/app/access.log', line);
    await waitFor('the sidecar restarted and Ready', async () => {
      const now = (await api('GET', `/api/v1/namespaces/${ns}/pods/${pod.metadata.name}`)).body as Json;
      const status = (now.status.containerStatuses as Json[]).find((c) => c.name === 'promtail');
      return status !== undefined && status.restartCount >= 1 && status.ready ? status : undefined;
    }, 60_000);
    t.same(await exactlyOnce(cluster.lokiUrl, `{namespace="${ns}"}`, mark, lines, 30_000), [...lines].sort(), 'all twenty, each once');
  });

  t.test("the team's own ConfigMap (config-map annotation) is the one promtail runs with", async (t) => {
    const ns = await namespaceFor(cluster, 'logs-team-config');
    // The team's config: the central one plus a label of its own.
    const central = await teamConfigMap(cluster, ns, 'payments-promtail', (config) => {
      config.scrape_configs[0].static_configs[0].labels.team = 'payments';
    });
    const pod = await deployOne(t, ns, 'payments', { 'logging.sre-quero/sidecar': 'true', 'logging.sre-quero/config-map': 'payments-promtail' });
    t.equal(pod.spec.volumes.find((v: Json) => v.name === 'promtail-config')?.configMap.name, 'payments-promtail');
    const line = `charge ${randomUUID()}`;
    await write(t, pod, '/var/log/app/access.log', line);
    const streams = await waitFor('the line in Loki', async () => {
      const found = await lokiStreams(cluster.lokiUrl, `{namespace="${ns}"}`, line);
      return found.length > 0 ? found : undefined;
    }, 30_000);
    t.equal(streams[0]?.stream.team, 'payments', "labelled by the team's config");
    const stored = (await api('GET', `/api/v1/namespaces/${ns}/configmaps/payments-promtail`)).body as Json;
    t.same(parse(stored.data['promtail.yaml']), central, "the team's ConfigMap is left as the team wrote it");
  });

}
