import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { parse } from 'yaml';
import { freePort } from '../cluster/net.js';
import { lokiSetup } from '../cluster/observability.js';
import type { Json } from '../helpers/reviews.js';
import { waitFor } from './harness.js';
import { apps, exactlyOnce } from './log-harness.js';
import { httpGet, isReady, namespaceFor, nodeClusterOrSkip } from './node-harness.js';

// A Loki outage of a minute, on a Loki of this file's own (the suite's is
// shared by files running meanwhile): the pod ships to it through its team's
// ConfigMap, the test stops it, the app writes, the test starts it again.

const cluster = nodeClusterOrSkip();

if (cluster !== undefined) {
  const { api } = cluster;
  const { deployOne, write } = apps(cluster);

  t.test('Loki down for a minute: promtail retries, and every line written meanwhile arrives once', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'sq-loki-outage-'));
    const gateway = new URL(cluster.lokiUrl).hostname;
    const loki = lokiSetup(dir, gateway, await freePort(), await freePort());
    let child: ChildProcess | undefined;
    const start = async () => {
      const log = openSync(join(dir, 'loki.log'), 'a');
      child = spawn(cluster.loki, loki.args, { stdio: ['ignore', log, log] });
      await waitFor('Loki ready', async () => ((await httpGet(`${loki.url}/ready`).catch(() => ({ status: 0 }))).status === 200 ? true : undefined), 90_000);
    };
    const stop = async () => {
      const exited = new Promise((resolve) => child?.once('exit', resolve));
      child?.kill('SIGTERM');
      await exited;
    };
    t.teardown(async () => {
      if (child?.exitCode === null) await stop();
      rmSync(dir, { recursive: true, force: true });
    });
    await start();

    const ns = await namespaceFor(cluster, 'logs-outage');
    const central = parse(((await api('GET', '/api/v1/namespaces/sre-quero/configmaps/sre-quero-promtail-template')).body as Json).data['promtail.yaml']) as Json;
    central.clients = [{ url: `${loki.url}/loki/api/v1/push` }];
    const configMap = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'own-loki', namespace: ns }, data: { 'promtail.yaml': JSON.stringify(central) } };
    t.equal((await api('POST', `/api/v1/namespaces/${ns}/configmaps`, configMap)).status, 201);
    const pod = await deployOne(t, ns, 'ledger', { 'logging.sre-quero/sidecar': 'true', 'logging.sre-quero/config-map': 'own-loki' });
    const mark = randomUUID();
    await write(t, pod, '/var/log/app/access.log', `before ${mark}`);
    t.same(await exactlyOnce(loki.url, `{namespace="${ns}"}`, mark, [`before ${mark}`], 30_000), [`before ${mark}`]);

    await stop();
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
    await start();
    const all = [`before ${mark}`, ...during];
    t.same(await exactlyOnce(loki.url, `{namespace="${ns}"}`, mark, all, 120_000), [...all].sort(), 'nothing lost, nothing twice');
  });
}
