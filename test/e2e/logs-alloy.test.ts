import { createHash, randomUUID } from 'node:crypto';
import t from 'tap';
import type { Json } from '../helpers/reviews.js';
import { waitFor } from './harness.js';
import { apps, exactlyOnce, lokiStreams, prometheus, sidecarPid } from './log-harness.js';
import { httpGet, namespaceFor, nodeClusterOrSkip } from './node-harness.js';

// Grafana Alloy behind the same contract as promtail, on the real node: the
// log-pipeline checks of logs.test.ts, logs-reload.test.ts and
// native-sidecar.test.ts for a pod that asks for alloy
// (logging.sre-quero/agent), and a Deployment switching from promtail to
// alloy. Real Alloy (built by provisioning from the Go module proxy), real
// Loki, real Prometheus.

const cluster = nodeClusterOrSkip();
const ALLOY = { 'logging.sre-quero/sidecar': 'true', 'logging.sre-quero/agent': 'alloy' };
const TEMPLATE = '/api/v1/namespaces/sre-quero/configmaps/sre-quero-promtail-template';

if (cluster !== undefined) {
  // Six pipelines on a node shared with the suite's other files, one of them
  // waiting for the kubelet to rewrite a ConfigMap (about 90 s): more than
  // the suite's 300 s per file when the node is busy.
  t.setTimeout(600_000);
  const { api, kubectl } = cluster;
  const { deploy, deployOne, write } = apps(cluster);
  const podNow = async (ns: string, name: string): Promise<Json> => (await api('GET', `/api/v1/namespaces/${ns}/pods/${name}`)).body as Json;
  const inLoki = (selector: string, needle: string, timeoutMs = 30_000) =>
    waitFor(`"${needle}" in Loki`, async () => {
      const found = await lokiStreams(cluster.lokiUrl, selector, needle);
      return found.length > 0 ? found : undefined;
    }, timeoutMs);

  t.test('alloy: a line written after readiness reaches Loki with the labels promtail gives it', async (t) => {
    const ns = await namespaceFor(cluster, 'alloy-logs');
    // The same app twice, one pod per agent, the same job label.
    const job = { 'logging.sre-quero/job': 'shop' };
    const pod = await deployOne(t, ns, 'shop', { ...ALLOY, ...job });
    const promtailPod = await deployOne(t, ns, 'shop-promtail', { 'logging.sre-quero/sidecar': 'true', ...job });
    const sidecar = (pod.spec.containers as Json[]).find((c) => c.name === 'promtail');
    t.equal(sidecar?.image, cluster.alloyImage, 'the sidecar runs the alloy image');
    t.equal(sidecar?.args[0], 'run', 'alloy run ...');
    t.equal(JSON.parse(pod.metadata.annotations['logging.sre-quero/status']).agent, 'alloy', 'the status annotation names the agent');
    t.ok(sidecarPid(pod.metadata.name, 'alloy'), 'the alloy process runs');

    const mark = randomUUID();
    await write(t, pod, '/var/log/app/access.log', `GET /checkout 200 alloy ${mark}`);
    await write(t, promtailPod, '/var/log/app/access.log', `GET /checkout 200 promtail ${mark}`);
    const written = Date.now();
    const streams = await inLoki(`{namespace="${ns}", pod="${pod.metadata.name}"}`, mark);
    t.comment(`in Loki ${((Date.now() - written) / 1000).toFixed(1)} s after it was written`);
    t.equal(streams.length, 1, 'one stream');
    t.match(streams[0]?.stream, {
      namespace: ns,
      pod: pod.metadata.name,
      container: 'web',
      job: 'shop',
      node: pod.spec.nodeName,
      filename: '/var/log/app/access.log',
    }, 'the labels of logs.test.ts');
    t.same(streams[0]?.values.map(([, text]) => text), [`GET /checkout 200 alloy ${mark}`], 'the line, once');
    // Loki adds labels of its own (service_name, ...); whatever they are, both agents' streams get the same.
    const promtailStreams = await inLoki(`{namespace="${ns}", pod="${promtailPod.metadata.name}"}`, mark);
    const { pod: _alloyPod, ...alloyLabels } = streams[0]?.stream ?? {};
    const { pod: _promtailPod, ...promtailLabels } = promtailStreams[0]?.stream ?? {};
    t.same(alloyLabels, promtailLabels, 'the same labels as the promtail pod\'s stream, apart from the pod');
  });

  t.test('alloy: Prometheus scrapes every sidecar through the promtail-http Service port', async (t) => {
    const ns = await namespaceFor(cluster, 'alloy-metrics');
    const pods = await deploy(t, ns, 'cart', ALLOY, 2);
    const names = pods.map((p) => p.metadata.name as string).sort();
    const up = await waitFor('both sidecars up in Prometheus', async () => {
      const result = await prometheus(cluster, `up{namespace="${ns}"}`);
      const scraped = result.filter((r) => r.value[1] === '1').map((r) => r.metric.pod as string).sort();
      return JSON.stringify(scraped) === JSON.stringify(names) ? result : undefined;
    }, 60_000);
    t.same(up.map((r) => r.metric.service).sort(), ['cart', 'cart'], 'found through the Service');
    const series = await prometheus(cluster, `count by (pod) (alloy_build_info{namespace="${ns}"})`);
    t.same(series.map((r) => r.metric.pod).sort(), names, "alloy's own series for each pod");
    const svc = (await api('GET', `/api/v1/namespaces/${ns}/services/cart`)).body as Json;
    t.match((svc.spec.ports as Json[]).find((p) => p.name === 'promtail-http'), { port: 9080, targetPort: 'promtail-http' }, 'the reconciler added the port');
  });

  t.test('alloy restarts (its process killed): no line shipped twice, none lost (positions under --storage.path)', async (t) => {
    const ns = await namespaceFor(cluster, 'alloy-restart');
    const pod = await deployOne(t, ns, 'orders', ALLOY);
    const mark = randomUUID();
    const lines = Array.from({ length: 20 }, (_, i) => `line ${i} ${mark}`);
    for (const line of lines.slice(0, 10)) await write(t, pod, '/var/log/app/access.log', line);
    t.same(await exactlyOnce(cluster.lokiUrl, `{namespace="${ns}"}`, mark, lines.slice(0, 10), 30_000), [...lines.slice(0, 10)].sort(), 'the first ten arrived');

    const pid = sidecarPid(pod.metadata.name, 'alloy');
    t.ok(pid, `alloy runs as host pid ${pid}`);
    process.kill(pid as number, 'SIGTERM');
    for (const line of lines.slice(10)) await write(t, pod, '/var/log/app/access.log', line);
    await waitFor('the sidecar restarted and Ready', async () => {
      const status = ((await podNow(ns, pod.metadata.name)).status.containerStatuses as Json[]).find((c) => c.name === 'promtail');
      return status !== undefined && status.restartCount >= 1 && status.ready ? status : undefined;
    }, 60_000);
    t.same(await exactlyOnce(cluster.lokiUrl, `{namespace="${ns}"}`, mark, lines, 30_000), [...lines].sort(), 'all twenty, each once');
  });

  t.test('a Job with the native alloy sidecar completes, and every line reaches Loki, the last one too', async (t) => {
    const ns = await namespaceFor(cluster, 'alloy-job');
    const mark = randomUUID();
    const expected = ['step 1', 'step 2', 'step 3', 'last'].map((step) => `${step} ${mark}`);
    const manifest = {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name: 'migrate', namespace: ns },
      spec: {
        backoffLimit: 0,
        template: {
          metadata: { labels: { app: 'migrate' }, annotations: { ...ALLOY, 'logging.sre-quero/sidecar-mode': 'native' } },
          spec: {
            restartPolicy: 'Never',
            terminationGracePeriodSeconds: 10,
            containers: [{
              name: 'migrate',
              image: cluster.busyboxImage,
              imagePullPolicy: 'Never',
              command: ['sh', '-c', `for i in 1 2 3; do echo "step $i ${mark}" >> /var/log/app/job.log; sleep 1; done; echo "last ${mark}" >> /var/log/app/job.log`],
            }],
          },
        },
      },
    };
    t.equal((await api('POST', `/apis/batch/v1/namespaces/${ns}/jobs`, manifest)).status, 201, 'Job created');
    const done = await waitFor('Job migrate complete', async () => {
      const status = ((await api('GET', `/apis/batch/v1/namespaces/${ns}/jobs/migrate`)).body as Json).status ?? {};
      return (status.conditions ?? []).some((c: Json) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True') ? status : undefined;
    }, 90_000);
    t.equal(done.succeeded, 1, 'the Job succeeded');
    const pods = ((await api('GET', `/api/v1/namespaces/${ns}/pods?labelSelector=job-name%3Dmigrate`)).body as Json).items as Json[];
    t.equal(pods.length, 1);
    const pod = pods[0] as Json;
    t.equal(pod.status.phase, 'Succeeded', 'the pod completed');
    t.match(pod.spec.initContainers[0], { name: 'promtail', restartPolicy: 'Always', image: cluster.alloyImage }, 'alloy as the native sidecar');
    t.same(await exactlyOnce(cluster.lokiUrl, `{namespace="${ns}", job="migrate"}`, mark, expected, 30_000), [...expected].sort(), 'all four lines, each once');
  });

  t.test('a Deployment switched from promtail to alloy by annotation: lines before and after, each once; the Service port stays', async (t) => {
    const ns = await namespaceFor(cluster, 'alloy-switch');
    const before = await deployOne(t, ns, 'billing', { 'logging.sre-quero/sidecar': 'true' });
    t.equal(JSON.parse(before.metadata.annotations['logging.sre-quero/status']).agent, 'promtail', 'promtail by default');
    const mark = randomUUID();
    const early = Array.from({ length: 5 }, (_, i) => `promtail ${i} ${mark}`);
    for (const line of early) await write(t, before, '/var/log/app/access.log', line);
    t.same(await exactlyOnce(cluster.lokiUrl, `{namespace="${ns}"}`, mark, early, 30_000), [...early].sort(), 'shipped by promtail');

    // What a team does: the agent annotation in the pod template, then the rollout.
    const patched = await kubectl(['-n', ns, 'patch', 'deployment/billing', '--type=merge', '-p', JSON.stringify({ spec: { template: { metadata: { annotations: { 'logging.sre-quero/agent': 'alloy' } } } } })]);
    t.equal(patched.status, 0, 'template annotated', { stderr: patched.stderr });
    const rolled = await kubectl(['-n', ns, 'rollout', 'status', 'deployment/billing', '--timeout=120s']);
    t.equal(rolled.status, 0, 'rolled out', { stderr: rolled.stderr });
    const after = await waitFor('one alloy pod, Ready, the old one gone', async () => {
      const pods = (((await api('GET', `/api/v1/namespaces/${ns}/pods?labelSelector=app%3Dbilling`)).body as Json).items as Json[]);
      const ready = pods.filter((p) => !p.metadata.deletionTimestamp && (p.status.conditions ?? []).some((c: Json) => c.type === 'Ready' && c.status === 'True'));
      return pods.length === 1 && ready.length === 1 ? ready[0] : undefined;
    }, 60_000);
    t.not(after.metadata.name, before.metadata.name, 'a new pod');
    t.equal(JSON.parse(after.metadata.annotations['logging.sre-quero/status']).agent, 'alloy', 'the new pod runs alloy');

    const late = Array.from({ length: 5 }, (_, i) => `alloy ${i} ${mark}`);
    for (const line of late) await write(t, after, '/var/log/app/access.log', line);
    const all = [...early, ...late];
    t.same(await exactlyOnce(cluster.lokiUrl, `{namespace="${ns}"}`, mark, all, 30_000), [...all].sort(), 'all ten lines, each once');
    const byPod = await lokiStreams(cluster.lokiUrl, `{namespace="${ns}"}`, mark);
    t.same(byPod.map((s) => s.stream.pod).sort(), [before.metadata.name, after.metadata.name].sort(), "each pod's lines under its own pod label");

    const svc = (await api('GET', `/api/v1/namespaces/${ns}/services/billing`)).body as Json;
    t.ok((svc.spec.ports as Json[]).some((p) => p.name === 'promtail-http'), 'the Service keeps the promtail-http port');
    await waitFor('the alloy pod scraped through it', async () => {
      const result = await prometheus(cluster, `up{namespace="${ns}", pod="${after.metadata.name}"}`);
      return result.some((r) => r.value[1] === '1') ? true : undefined;
    }, 60_000);
    t.pass('Prometheus scrapes the new pod');
  });

  t.test('a change to config.alloy reaches a running alloy sidecar without a restart (reload confirmed by its config hash)', async (t) => {
    const ns = await namespaceFor(cluster, 'alloy-reload');
    const pod = await deployOne(t, ns, 'cart', ALLOY);
    const pid = sidecarPid(pod.metadata.name, 'alloy');
    t.ok(pid, 'alloy runs');
    const mark = randomUUID();
    const label = `r${mark.slice(0, 8)}`;
    const lines: string[] = [];
    const writeLine = async (text: string) => {
      lines.push(`${text} ${mark}`);
      await write(t, pod, '/var/log/app/access.log', `${text} ${mark}`);
    };
    await writeLine('before');
    t.equal((await inLoki(`{namespace="${ns}"}`, mark))[0]?.stream.reload_mark, undefined, 'shipped with the config it started with');

    const putTemplate = async (content: string) => {
      const current = (await api('GET', TEMPLATE)).body as Json;
      current.data['config.alloy'] = content;
      const reply = await api('PUT', TEMPLATE, current);
      if (reply.status !== 200) throw new Error(`updating the template: ${reply.status} ${JSON.stringify(reply.body)}`);
    };
    const original = ((await api('GET', TEMPLATE)).body as Json).data['config.alloy'] as string;
    t.teardown(() => putTemplate(original));
    // A stage that labels only this run's lines (other files' alloy sidecars reload too, harmlessly).
    const forward = 'forward_to = [loki.write.default.receiver]';
    t.equal(original.split(forward).length, 2, 'the template forwards its files to loki.write once');
    const changed =
      original.replace(forward, 'forward_to = [loki.process.reload_mark.receiver]') +
      `\nloki.process "reload_mark" {\n  stage.match {\n    selector = "{job=~\\".+\\"} |= \\"${mark}\\""\n    stage.static_labels {\n      values = { reload_mark = "${label}" }\n    }\n  }\n  ${forward}\n}\n`;
    await putTemplate(changed);
    const changedAt = Date.now();
    await waitFor('the namespace ConfigMap updated', async () => {
      const reply = await api('GET', `/api/v1/namespaces/${ns}/configmaps/promtail-sidecar-config`);
      return (reply.body as Json).data?.['config.alloy'] === changed ? true : undefined;
    }, 10_000);

    let n = 0;
    const relabelled = await waitFor('a line with the new label', async () => {
      await writeLine(`after-${++n}`);
      const found = await lokiStreams(cluster.lokiUrl, `{namespace="${ns}", reload_mark="${label}"}`, mark);
      return found.length > 0 ? found : undefined;
    }, 180_000, 2000);
    t.comment(`the running sidecar shipped with the new config ${((Date.now() - changedAt) / 1000).toFixed(1)} s after the template changed (${n} lines written meanwhile)`);
    t.match(relabelled[0]?.stream, { namespace: ns, pod: pod.metadata.name, job: 'cart', reload_mark: label });

    // What the reconciler checks after POST /-/reload: alloy runs the file it was given.
    const now = await podNow(ns, pod.metadata.name);
    const metrics = await httpGet(`http://${now.status.podIP}:9080/metrics`);
    const sha256 = createHash('sha256').update(changed).digest('hex');
    t.match(metrics.body, new RegExp(`\\nalloy_config_hash\\{[^}]*\\bsha256="${sha256}"[^}]*\\} 1\\n`), 'alloy_config_hash is the new file\'s');
    t.equal(now.metadata.uid, pod.metadata.uid, 'the same pod');
    t.same(now.status.containerStatuses.map((c: Json) => [c.name, c.restartCount]), [['promtail', 0], ['web', 0]], 'no container restarted');
    t.equal(sidecarPid(pod.metadata.name, 'alloy'), pid, 'the same alloy process: reloaded, not restarted');

    await writeLine('last');
    t.same(await exactlyOnce(cluster.lokiUrl, `{namespace="${ns}"}`, mark, lines, 30_000), [...lines].sort(), `all ${lines.length} lines, each once, across the reload`);
  });
}
