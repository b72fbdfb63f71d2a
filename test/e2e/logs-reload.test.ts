import { randomUUID } from 'node:crypto';
import t from 'tap';
import { parse, stringify } from 'yaml';
import type { Json } from '../helpers/reviews.js';
import { waitFor } from './harness.js';
import { apps, exactlyOnce, lokiStreams, sidecarPid } from './log-harness.js';
import { namespaceFor, nodeClusterOrSkip } from './node-harness.js';

// A change to the central template reaches sidecars that are already running:
// the reconciler updates each namespace's ConfigMap, the kubelet rewrites the
// file in the pod, and the reconciler asks promtail to reload (POST /reload)
// until it runs the new config. No pod restarts, no line twice, none lost.
//
// The change is one other files cannot see: a stage that labels only lines
// carrying this run's mark. Their sidecars reload too (twice: the change and
// its undo), which their own exactly-once checks then cover.

const cluster = nodeClusterOrSkip();
const TEMPLATE = '/api/v1/namespaces/sre-quero/configmaps/sre-quero-promtail-template';

if (cluster !== undefined) {
  const { api } = cluster;
  const { deployOne, write } = apps(cluster);

  const putTemplate = async (content: string) => {
    const current = (await api('GET', TEMPLATE)).body as Json;
    current.data['promtail.yaml'] = content;
    const reply = await api('PUT', TEMPLATE, current);
    if (reply.status !== 200) throw new Error(`updating the template: ${reply.status} ${JSON.stringify(reply.body)}`);
  };

  t.test('a template change reaches a running sidecar without a restart; nothing is shipped twice or lost', async (t) => {
    const ns = await namespaceFor(cluster, 'logs-reload');
    const pod = await deployOne(t, ns, 'cart', { 'logging.sre-quero/sidecar': 'true' });
    const pid = sidecarPid(pod.metadata.name);
    t.ok(pid, 'promtail runs');
    const mark = randomUUID();
    const label = `r${mark.slice(0, 8)}`;
    const lines: string[] = [];
    const writeLine = async (text: string) => {
      lines.push(`${text} ${mark}`);
      await write(t, pod, '/var/log/app/access.log', `${text} ${mark}`);
    };

    await writeLine('before');
    const before = await waitFor('the first line in Loki', async () => {
      const found = await lokiStreams(cluster.lokiUrl, `{namespace="${ns}"}`, mark);
      return found.length > 0 ? found : undefined;
    }, 30_000);
    t.equal(before[0]?.stream.reload_mark, undefined, 'shipped with the labels of the config it started with');

    const original = ((await api('GET', TEMPLATE)).body as Json).data['promtail.yaml'] as string;
    t.teardown(() => putTemplate(original));
    const config = parse(original) as Json;
    t.equal(config.scrape_configs?.[0]?.job_name, 'app', 'the template has the app job');
    config.scrape_configs[0].pipeline_stages = [{ match: { selector: `{job=~".+"} |= "${mark}"`, stages: [{ static_labels: { reload_mark: label } }] } }];
    const changed = stringify(config);
    await putTemplate(changed);
    const changedAt = Date.now();

    const inPod = await waitFor('the namespace ConfigMap updated', async () => {
      const reply = await api('GET', `/api/v1/namespaces/${ns}/configmaps/promtail-sidecar-config`);
      return (reply.body as Json).data?.['promtail.yaml'] === changed ? true : undefined;
    }, 10_000);
    t.ok(inPod, 'the reconciler copied the change into the namespace');

    // Write until a line arrives with the new label: lines written before the
    // reload are shipped as before, the ones after it carry the label.
    let n = 0;
    const relabelled = await waitFor('a line with the new label', async () => {
      await writeLine(`after-${++n}`);
      const found = await lokiStreams(cluster.lokiUrl, `{namespace="${ns}", reload_mark="${label}"}`, mark);
      return found.length > 0 ? found : undefined;
    }, 180_000, 2000);
    t.comment(`the running sidecar shipped with the new config ${((Date.now() - changedAt) / 1000).toFixed(1)} s after the template changed (${n} lines written meanwhile)`);
    t.match(relabelled[0]?.stream, { namespace: ns, pod: pod.metadata.name, job: 'cart', reload_mark: label });

    const now = ((await api('GET', `/api/v1/namespaces/${ns}/pods/${pod.metadata.name}`)).body as Json);
    t.equal(now.metadata.uid, pod.metadata.uid, 'the same pod');
    t.same(now.status.containerStatuses.map((c: Json) => [c.name, c.restartCount]), [['promtail', 0], ['web', 0]], 'no container restarted');
    t.equal(sidecarPid(pod.metadata.name), pid, 'the same promtail process: reloaded, not restarted');

    await writeLine('last');
    t.same(await exactlyOnce(cluster.lokiUrl, `{namespace="${ns}"}`, mark, lines, 30_000), [...lines].sort(), `all ${lines.length} lines, each once, across the reload`);
  });
}
