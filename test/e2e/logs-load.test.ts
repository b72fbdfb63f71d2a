import { readFileSync } from 'node:fs';
import t from 'tap';
import { AGENTS, DEFAULT_SETTINGS } from '../../src/injection/index.js';
import { parseCpu, parseMemory, type Parsed, type Quantity } from '../../src/injection/values.js';
import type { Json } from '../helpers/reviews.js';
import { waitFor } from './harness.js';
import { apps, sidecarPid } from './log-harness.js';
import { httpGet, namespaceFor, nodeClusterOrSkip } from './node-harness.js';

// Each agent's default resources (DEFAULT_SETTINGS.resources[agent], the
// installed settings' too), checked under the load the README states: 1,000
// lines a second for a minute. The sidecar is not OOM-killed, keeps up (every
// line in Loki soon after the last was written), and its CPU and memory stay
// under its agent's default requests: memory is the cgroup's anonymous memory
// (total_rss), sampled while it works. (Its VmRSS looks larger: it counts the
// pages of the binary, 86 MB for promtail and 400 MB for alloy, file-backed,
// shared by every sidecar on the node and reclaimable; they do count against
// the cgroup's limit, hence alloy's higher one.) Both agents, one after the
// other; the comments they print are the README's measured figures.

const LINES_PER_SECOND = 1000;
const SECONDS = 60;
const MiB = 1024 * 1024;
const cluster = nodeClusterOrSkip();

/** A default quantity as a number (bytes, millicores), whatever its unit: the defaults may change. */
const amount = (parse: (raw: string) => Parsed<Quantity>, quantity: string): number => {
  const parsed = parse(quantity);
  if (!parsed.ok) throw new Error(`the default ${quantity} is not a quantity`);
  return parsed.value.amount;
};

if (cluster !== undefined) {
  // Per agent: a pod to Ready (up to two minutes on a busy node), a minute
  // of writing, up to 30 s for Loki. Two of them can pass the suite's 300 s
  // per file.
  t.setTimeout(600_000);
  const { api } = cluster;
  const { deployOne } = apps(cluster);

  for (const agent of AGENTS) t.test(`a ${agent} sidecar under ${LINES_PER_SECOND} lines/s for ${SECONDS} s keeps up within its default resources`, async (t) => {
    const defaults = DEFAULT_SETTINGS.resources[agent];
    const ns = await namespaceFor(cluster, `logs-load-${agent}`);
    const pod = await deployOne(t, ns, 'busy', { 'logging.sre-quero/sidecar': 'true', 'logging.sre-quero/agent': agent });
    // The container is `promtail` whatever the agent (the contract).
    const sidecar = (pod.spec.containers as Json[]).find((c) => c.name === 'promtail') as Json;
    t.same(sidecar.resources, { requests: defaults.requests, limits: defaults.limits }, `${agent}'s defaults`);

    const pid = sidecarPid(pod.metadata.name, agent) as number;
    const cgroup = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').find((line) => /:memory:/.test(line))?.split(':')[2];
    t.ok(cgroup, `${agent} ${pid} in memory cgroup ${cgroup}`);
    const cpuBefore = Number(readFileSync(`/sys/fs/cgroup/cpuacct${cgroup}/cpuacct.usage`, 'utf8'));

    // The app: bursts of LINES_PER_SECOND lines, one a second, for SECONDS.
    const writer = `n=0; while [ $n -lt ${SECONDS} ]; do i=0; while [ $i -lt ${LINES_PER_SECOND} ]; do echo "$n $i GET /api/v1/orders/12345 200 1532 0.023"; i=$((i+1)); done >> /var/log/app/access.log; n=$((n+1)); sleep 1; done`;
    const rssNow = () => Number(/^total_rss (\d+)$/m.exec(readFileSync(`/sys/fs/cgroup/memory${cgroup}/memory.stat`, 'utf8'))?.[1]);
    let peakRss = rssNow();
    const sampler = setInterval(() => (peakRss = Math.max(peakRss, rssNow())), 500);
    t.teardown(() => clearInterval(sampler));
    const started = Date.now();
    const exec = await cluster.kubectl(['-n', ns, 'exec', pod.metadata.name, '-c', 'web', '--', 'sh', '-c', writer]);
    t.equal(exec.status, 0, 'the app wrote its lines', { stderr: exec.stderr });
    const wrote = (Date.now() - started) / 1000;
    const cpuSeconds = (Number(readFileSync(`/sys/fs/cgroup/cpuacct${cgroup}/cpuacct.usage`, 'utf8')) - cpuBefore) / 1e9;
    const total = LINES_PER_SECOND * SECONDS;

    const query = encodeURIComponent(`sum(count_over_time({namespace="${ns}"}[15m]))`);
    const inLoki = await waitFor('every line in Loki', async () => {
      const reply = await httpGet(`${cluster.lokiUrl}/loki/api/v1/query?query=${query}`);
      const count = Number((JSON.parse(reply.body) as Json).data?.result?.[0]?.value?.[1] ?? 0);
      return count >= total ? count : undefined;
    }, 30_000);
    t.equal(inLoki, total, `all ${total} lines in Loki`);

    clearInterval(sampler);
    const usage = Number(readFileSync(`/sys/fs/cgroup/memory${cgroup}/memory.max_usage_in_bytes`, 'utf8'));
    const status = (((await api('GET', `/api/v1/namespaces/${ns}/pods/${pod.metadata.name}`)).body as Json).status.containerStatuses as Json[]).find((c) => c.name === 'promtail') as Json;
    t.equal(status.restartCount, 0, 'never restarted (no OOM kill)');
    t.ok(peakRss < amount(parseMemory, defaults.requests.memory), `memory ${(peakRss / MiB).toFixed(1)} MiB at most, under the ${defaults.requests.memory} request`);
    const millicores = (cpuSeconds / wrote) * 1000;
    t.ok(millicores < amount(parseCpu, defaults.requests.cpu), `CPU ${millicores.toFixed(0)}m while writing, under the ${defaults.requests.cpu} request`);
    t.comment(`${total} lines in ${wrote.toFixed(0)} s: ${agent} used ${millicores.toFixed(0)}m CPU, ${(peakRss / MiB).toFixed(1)} MiB anonymous memory at most (cgroup usage peak with page cache: ${(usage / MiB).toFixed(1)} MiB)`);
  });
}
