import { randomUUID } from 'node:crypto';
import t from 'tap';
import type { Json } from '../helpers/reviews.js';
import { apps, exactlyOnce, ownLoki, teamConfigMap } from './log-harness.js';
import { httpGet, isReady, namespaceFor, nodeClusterOrSkip } from './node-harness.js';

// A Loki outage of a minute, on a Loki of this file's own (the suite's is
// shared by files running meanwhile): the pod ships to it through its team's
// ConfigMap, the test stops it, the app writes, the test starts it again.

const cluster = nodeClusterOrSkip();

if (cluster !== undefined) {
  const { api } = cluster;
  const { deployOne, write } = apps(cluster);

  t.test('Loki down for a minute: promtail retries, and every line written meanwhile arrives once', async (t) => {
    const loki = await ownLoki(t, cluster);
    const ns = await namespaceFor(cluster, 'logs-outage');
    await teamConfigMap(cluster, ns, 'own-loki', (config) => {
      config.clients = [{ url: `${loki.url}/loki/api/v1/push` }];
    });
    const pod = await deployOne(t, ns, 'ledger', { 'logging.sre-quero/sidecar': 'true', 'logging.sre-quero/config-map': 'own-loki' });
    const mark = randomUUID();
    await write(t, pod, '/var/log/app/access.log', `before ${mark}`);
    t.same(await exactlyOnce(loki.url, `{namespace="${ns}"}`, mark, [`before ${mark}`], 30_000), [`before ${mark}`]);

    await loki.stop();
    t.not((await httpGet(`${loki.url}/ready`).catch(() => ({ status: 0 }))).status, 200, 'Loki is down');
    const during = Array.from({ length: 6 }, (_, i) => `during ${i} ${mark}`);
    for (const line of during) {
      await write(t, pod, '/var/log/app/access.log', line);
      await new Promise((resolve) => setTimeout(resolve, 10_000));
    }
    // A sidecar that cannot reach Loki does not take the app out of its Service.
    const duringOutage = (await api('GET', `/api/v1/namespaces/${ns}/pods/${pod.metadata.name}`)).body as Json;
    t.ok(isReady(duringOutage), 'the pod stayed Ready through the outage');
    t.ok((duringOutage.status.containerStatuses as Json[]).every((c) => c.ready && c.restartCount === 0), 'no container restarted or went unready');
    await loki.start();
    const all = [`before ${mark}`, ...during];
    t.same(await exactlyOnce(loki.url, `{namespace="${ns}"}`, mark, all, 120_000), [...all].sort(), 'nothing lost, nothing twice');
  });
}
