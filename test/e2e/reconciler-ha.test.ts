import { readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import type { Json } from '../helpers/reviews.js';
import { controlPlaneOrSkip, waitFor } from './harness.js';
import { tempDir } from '../helpers/temp-dir.js';

// Leadership and resilience of the reconciler on a real API server: one
// replica reconciles at a time, another takes over, and dropped watches
// resume without missing changes.

// Watches served by etcd, compacted every second: a watch cut for a few
// seconds comes back to 410 Gone.
const cp = await controlPlaneOrSkip({ apiserverArgs: ['--watch-cache=false', '--etcd-compaction-interval=1s'] });

if (cp !== undefined) {
  // Loaded only with a cluster, so a skipped suite adds no uncovered files.
  const { KubeConfig } = await import('@kubernetes/client-node');
  const { runReconciler } = await import('../../src/reconciler/run.js');
  const { createLogger } = await import('../../src/logger.js');
  const { createMetrics } = await import('../../src/metrics.js');
  const { DEFAULT_SETTINGS } = await import('../../src/injection/index.js');

  const replica = (identity: string, kubeconfig = cp.kubeconfig, leaseDurationMs = 3000) => {
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfig);
    const metrics = createMetrics();
    const running = runReconciler({ kc, logger: createLogger('silent'), metrics, settings: DEFAULT_SETTINGS, namespace: 'sre-quero', templateConfigMap: 'sre-quero-promtail-template', leaseDurationMs, identity });
    t.teardown(() => running.stop());
    return { identity, running, metrics };
  };
  const create = async (collection: string, body: Json) => {
    const reply = await cp.api('POST', `/api/v1/namespaces/ha/${collection}`, body);
    if (reply.status !== 201) throw new Error(`create ${collection}: ${reply.status}`);
  };
  const app = async (name: string) => {
    await create('services', { metadata: { name }, spec: { selector: { app: name }, ports: [{ name: 'http', port: 80 }] } });
    await create('pods', {
      metadata: { name: `${name}-1`, labels: { app: name, 'logging.sre-quero/injected': 'true' }, annotations: { 'logging.sre-quero/status': '{"metricsPort":9080}' } },
      spec: { containers: [{ name: 'app', image: 'example/app:1' }] },
    });
  };
  const hasPort = async (name: string) => ((await cp.api('GET', `/api/v1/namespaces/ha/services/${name}`)).body.spec.ports as Json[]).some((p) => p.name === 'promtail-http');
  const waitForPort = (name: string, present = true) => waitFor(`port on ${name} ${present ? 'added' : 'removed'}`, async () => ((await hasPort(name)) === present ? true : undefined), 20_000);

  await cp.createNamespace('sre-quero');
  await cp.createNamespace('ha');
  const replicas = [replica('replica-a'), replica('replica-b')];

  t.test('exactly one replica leads and reconciles', async (t) => {
    await app('one');
    await waitForPort('one');
    let samples = 0;
    const deadline = Date.now() + 3000;
    while (Date.now() < deadline) {
      t.equal(replicas.filter((r) => r.running.isLeader()).length, 1, 'one leader', { diagnostic: false });
      samples++;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    t.ok(samples > 20);
    // Only the leader watches and writes; the follower made no API call but the lease's.
    const applies = async (r: (typeof replicas)[number]) =>
      Number((await r.metrics.registry.getSingleMetricAsString('sre_quero_reconciler_api_requests_total')).match(/verb="apply"} (\d+)/)?.[1] ?? 0);
    const leader = replicas.find((r) => r.running.isLeader());
    const follower = replicas.find((r) => !r.running.isLeader());
    t.ok(leader && (await applies(leader)) > 0, 'the leader applied the port');
    t.equal(follower && (await applies(follower)), 0, 'the follower wrote nothing');
    t.notMatch(follower ? await follower.metrics.registry.getSingleMetricAsString('sre_quero_reconciler_api_requests_total') : '', /verb="(list|watch)"/, 'the follower runs no informer');
  });

  t.test('the leader stops: the other takes over within the lease duration and converges', async (t) => {
    const leader = replicas.find((r) => r.running.isLeader());
    const follower = replicas.find((r) => !r.running.isLeader());
    if (!leader || !follower) throw new Error('no leader');
    const stopped = Date.now();
    await leader.running.stop();
    await waitFor('the other replica to lead', async () => (follower.running.isLeader() ? true : undefined), 3000 + 2000);
    t.ok(Date.now() - stopped < 3000, 'a released lease is taken well within the lease duration');
    await app('two');
    await waitForPort('two');
    t.notOk(leader.running.isLeader());
  });

  t.test('watches that drop (API server restart) resume without missing changes', async (t) => {
    await app('before-restart');
    await waitForPort('before-restart');
    await cp.restartApiServer(1500);
    // Changes right after the restart, while the reconciler's watches reconnect.
    await app('after-restart');
    t.equal((await cp.api('DELETE', '/api/v1/namespaces/ha/pods/before-restart-1?gracePeriodSeconds=0')).status, 200);
    await waitForPort('after-restart');
    await waitForPort('before-restart', false);
    t.pass('both changes were seen');
  });

  t.test('a watch that expires (410 Gone) relists and misses nothing', async (t) => {
    // A loopback proxy in front of the API server that the test can cut: while
    // it is cut, other writes and etcd's compaction (every second here) move
    // past the reconciler's resourceVersion, so its reconnecting watch is
    // answered 410 Gone and it must relist.
    const sockets = new Set<Socket>();
    let cut = false;
    const apiPort = Number(new URL(cp.server).port);
    const proxy = createServer((client) => {
      if (cut) return void client.destroy();
      const upstream = connect(apiPort, '127.0.0.1');
      for (const socket of [client, upstream]) {
        sockets.add(socket);
        socket.on('close', () => sockets.delete(socket));
        socket.on('error', () => socket.destroy());
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    t.teardown(() => proxy.close());
    const viaProxy = join(tempDir('proxy'), 'kubeconfig');
    const config = JSON.parse(readFileSync(cp.kubeconfig, 'utf8')) as Json;
    config.clusters[0].cluster.server = `https://127.0.0.1:${(proxy.address() as { port: number }).port}`;
    writeFileSync(viaProxy, JSON.stringify(config));

    for (const r of replicas) if (r.running.isLeader()) await r.running.stop();
    // A long lease, so that the cut does not cost it leadership: the informers must recover by themselves.
    const proxied = replica('replica-behind-proxy', viaProxy, 60_000);
    await waitFor('the proxied replica to lead', async () => (proxied.running.isLeader() ? true : undefined), 15_000);
    await app('gone-soon');
    await waitForPort('gone-soon');
    const lists = async () => Number((await proxied.metrics.registry.getSingleMetricAsString('sre_quero_reconciler_api_requests_total')).match(/verb="list"} (\d+)/)?.[1] ?? 0);
    const listsBefore = await lists();

    let leadership = true;
    const sampler = setInterval(() => (leadership &&= proxied.running.isLeader()), 100);
    cut = true;
    for (const socket of sockets) socket.destroy();
    await cp.createNamespace('churn');
    for (let i = 0; i < 30; i++) {
      await cp.api('POST', '/api/v1/namespaces/churn/pods', { metadata: { name: `churn-${i}` }, spec: { containers: [{ name: 'c', image: 'example/c:1' }] } });
    }
    t.equal((await cp.api('DELETE', '/api/v1/namespaces/ha/pods/gone-soon-1?gracePeriodSeconds=0')).status, 200);
    await app('new-while-cut');
    await new Promise((resolve) => setTimeout(resolve, 3000)); // two compactions
    cut = false;

    await waitForPort('new-while-cut');
    await waitForPort('gone-soon', false);
    clearInterval(sampler);
    t.ok((await lists()) > listsBefore, 'it relisted');
    t.ok(leadership, 'the same reconciler recovered (it never lost the lease and restarted)');
  });
}
