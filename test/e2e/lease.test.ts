import { createServer } from 'node:net';
import { CoordinationV1Api, KubeConfig } from '@kubernetes/client-node';
import t, { type Test } from 'tap';
import type { LeaderElection, LeaseApi, LeaseOptions } from '../../src/reconciler/lease.js';
import { controlPlaneOrSkip, waitFor } from './harness.js';

// Leader election against a real kube-apiserver: the Lease's optimistic
// concurrency, expiry measured on the candidate's own clock, and release.

const NAMESPACE = 'sre-quero';
const LEASE_MS = 2000;
const RENEW_MS = 500;
const RETRY_MS = 300;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
// A port nothing listens on: connections to it are refused at once.
const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer().once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });

// Authenticated, and authorized only for what the 403 test grants it.
const NOBODY = { user: 'sq-nobody', token: `nobody-${process.pid}-${Date.now()}`, groups: [] };
const cp = await controlPlaneOrSkip({ identities: [NOBODY] });
// Loaded only with a cluster, so a skipped suite adds no uncovered file to the count.
const { electLeader } = cp ? await import('../../src/reconciler/lease.js') : { electLeader: undefined as never };

if (cp !== undefined) {
  await cp.createNamespace(NAMESPACE);

  const leasePath = (name: string) => `/apis/coordination.k8s.io/v1/namespaces/${NAMESPACE}/leases/${name}`;
  const readLease = async (name: string) => {
    const reply = await cp.api('GET', leasePath(name));
    if (reply.status !== 200) throw new Error(`reading lease ${name}: ${reply.status}`);
    return reply.body;
  };

  // Each candidate gets its own KubeConfig and client, like separate replicas.
  const apiClient = (options: { server?: string; token?: string } = {}): CoordinationV1Api => {
    const kc = new KubeConfig();
    kc.loadFromFile(cp.kubeconfig);
    if (options.server !== undefined || options.token !== undefined) {
      kc.loadFromOptions({
        clusters: [{ name: 'other', server: options.server ?? cp.server, caFile: cp.caFile }],
        users: [{ name: 'other', token: options.token ?? 'unused' }],
        contexts: [{ name: 'other', cluster: 'other', user: 'other' }],
        currentContext: 'other',
      });
    }
    return kc.makeApiClient(CoordinationV1Api);
  };

  interface Candidate {
    election: LeaderElection;
    identity: string;
    events: Array<{ event: 'started' | 'stopped'; at: number }>;
    warnings: Array<{ obj: object; msg: string }>;
    startedAt(n?: number): number | undefined;
    stoppedAt(n?: number): number | undefined;
  }

  const candidate = (t: Test, leaseName: string, identity: string, overrides: Partial<LeaseOptions> = {}): Candidate => {
    const events: Candidate['events'] = [];
    const warnings: Candidate['warnings'] = [];
    const election = electLeader({
      api: apiClient(),
      namespace: NAMESPACE,
      name: leaseName,
      identity,
      leaseDurationMs: LEASE_MS,
      renewIntervalMs: RENEW_MS,
      retryIntervalMs: RETRY_MS,
      logger: { info: () => {}, warn: (obj, msg) => warnings.push({ obj, msg }) },
      onStartedLeading: () => void events.push({ event: 'started', at: Date.now() }),
      onStoppedLeading: () => void events.push({ event: 'stopped', at: Date.now() }),
      ...overrides,
    });
    t.teardown(() => election.stop());
    const nth = (event: 'started' | 'stopped', n: number) => events.filter((e) => e.event === event)[n]?.at;
    return { election, identity, events, warnings, startedAt: (n = 0) => nth('started', n), stoppedAt: (n = 0) => nth('stopped', n) };
  };

  const until = (what: string, check: () => boolean, timeoutMs = 10_000) =>
    waitFor(what, async () => (check() ? true : undefined), timeoutMs);

  // Returns right after the holder has renewed, so what follows starts at the
  // beginning of a renewal period.
  const justRenewed = async (name: string) => {
    const before = (await readLease(name)).metadata.resourceVersion;
    const deadline = Date.now() + LEASE_MS;
    while (Date.now() < deadline) {
      const lease = await readLease(name);
      if (lease.metadata.resourceVersion !== before) return lease;
      await sleep(10);
    }
    throw new Error(`lease ${name} was not renewed within ${LEASE_MS} ms`);
  };

  t.test('rejects impossible timings', async (t) => {
    const base = { api: apiClient(), namespace: NAMESPACE, name: 'x', identity: 'x', logger: console, onStartedLeading() {}, onStoppedLeading() {} };
    t.throws(() => electLeader({ ...base, leaseDurationMs: 3000, renewIntervalMs: 3000, retryIntervalMs: 300 }), RangeError);
    t.throws(() => electLeader({ ...base, leaseDurationMs: 0, renewIntervalMs: 500, retryIntervalMs: 300 }), RangeError);
    t.throws(() => electLeader({ ...base, identity: '', leaseDurationMs: 3000, renewIntervalMs: 500, retryIntervalMs: 300 }), RangeError);
  });

  t.test('no timers left behind', async (t) => {
    // Runs alone, before the concurrent group: it counts the process's timers.
    // (The file also has to exit on its own for tap to pass it.)
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    const a = candidate(t, 'timers', 'replica-a');
    a.election.start();
    await until('a leads', () => a.election.isLeader());
    t.ok(timers() > before, 'leading arms timers');
    await a.election.stop();
    t.equal(timers(), before, 'stop() clears them all');
  });

  // Independent Leases, one client per candidate: run side by side to keep the file short.
  t.test('elections', { jobs: 4 }, async (t) => {
    t.test('one candidate leads; its renewals advance renewTime; stop() releases the Lease', async (t) => {
      const a = candidate(t, 'single', 'replica-a');
      a.election.start();
      await until('a leads', () => a.election.isLeader());
      const first = await readLease('single');
      t.equal(first.spec.holderIdentity, 'replica-a');
      t.equal(first.spec.leaseDurationSeconds, LEASE_MS / 1000);
      t.equal(first.spec.leaseTransitions, 0);
      t.match(first.spec.renewTime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/, 'a MicroTime, six fractional digits');
      t.equal(first.spec.acquireTime, first.spec.renewTime, 'acquired and renewed at creation');

      await sleep(2 * RENEW_MS);
      const later = await readLease('single');
      t.equal(later.spec.holderIdentity, 'replica-a');
      const advancedMs = Date.parse(later.spec.renewTime) - Date.parse(first.spec.renewTime);
      t.ok(advancedMs >= 0.7 * RENEW_MS && advancedMs <= 2 * RENEW_MS + 500, `renewTime advanced by ${advancedMs} ms in ${2 * RENEW_MS} ms`);
      t.equal(later.spec.acquireTime, first.spec.acquireTime, 'renewing keeps acquireTime');
      t.equal(later.spec.leaseTransitions, 0, 'renewing is no transition');
      t.not(later.metadata.resourceVersion, first.metadata.resourceVersion);
      t.same(a.events.map((e) => e.event), ['started']);

      await a.election.stop();
      t.equal(a.election.isLeader(), false);
      t.same(a.events.map((e) => e.event), ['started', 'stopped'], 'onStoppedLeading once, awaited by stop()');
      const released = await readLease('single');
      t.equal(released.spec.holderIdentity, '', 'released: empty holder');
      t.equal(released.spec.leaseDurationSeconds, 1);
      t.equal(released.spec.leaseTransitions, 0);

      await a.election.stop();
      t.equal(a.events.length, 2, 'a second stop() calls nothing');
      t.same(a.warnings, [], 'no API errors');
    });

    t.test('two candidates: never both leaders, the same one all along', async (t) => {
      const a = candidate(t, 'pair', 'replica-a');
      const b = candidate(t, 'pair', 'replica-b');
      // Started together on a missing Lease: both try to create it, one gets 409.
      a.election.start();
      b.election.start();
      const samples: Array<[boolean, boolean]> = [];
      const deadline = Date.now() + 2000;
      while (Date.now() < deadline) {
        samples.push([a.election.isLeader(), b.election.isLeader()]);
        await sleep(20);
      }
      t.ok(samples.length > 40, `${samples.length} samples over 2 s`);
      t.equal(samples.filter(([x, y]) => x && y).length, 0, 'never both leaders');
      const firstLed = samples.findIndex(([x, y]) => x || y);
      t.ok(firstLed >= 0 && firstLed < 50, `a leader within ${firstLed} samples`);
      const settled = samples.slice(firstLed);
      t.ok(settled.every(([x, y]) => x !== y), 'exactly one leader from then on');
      t.ok(settled.every(([x]) => x === settled[0]![0]), 'no flapping: the same leader all along');

      const [leader, other] = a.election.isLeader() ? [a, b] : [b, a];
      t.equal((await readLease('pair')).spec.holderIdentity, leader.identity, 'the Lease names the leader');
      t.same(leader.events.map((e) => e.event), ['started']);
      t.same(other.events, [], 'the other never started leading');
      t.same([...a.warnings, ...b.warnings], [], 'a lost race is a conflict, not an error');
    });

    t.test('graceful failover: stop() hands the Lease over at once', async (t) => {
      // A long lease: without the release b would wait at least ~4.4 s; the
      // handover costs no more than a look and a write.
      const long = { leaseDurationMs: 5000 };
      const a = candidate(t, 'handover', 'replica-a', long);
      const b = candidate(t, 'handover', 'replica-b', long);
      a.election.start();
      await until('a leads', () => a.election.isLeader());
      b.election.start();
      await sleep(400);
      t.equal(b.election.isLeader(), false, 'b waits while a renews');
      const before = await readLease('handover');

      const stoppedAt = Date.now();
      await a.election.stop();
      await until('b leads', () => b.election.isLeader(), long.leaseDurationMs);
      const takeoverMs = b.startedAt()! - stoppedAt;
      t.ok(takeoverMs < 1500, `b took over ${takeoverMs} ms after a's stop() (lease ${long.leaseDurationMs} ms)`);
      t.ok(a.stoppedAt()! <= b.startedAt()!, "a's onStoppedLeading ran before the release, so before b started");

      const after = await readLease('handover');
      t.equal(after.spec.holderIdentity, 'replica-b');
      t.equal(after.spec.leaseTransitions, before.spec.leaseTransitions + 1, 'leaseTransitions incremented');
      t.equal(after.spec.leaseDurationSeconds, 5, "b's own duration, not the release's 1 s");
      t.not(after.spec.acquireTime, before.spec.acquireTime, 'new acquireTime');
      t.same(a.events.map((e) => e.event), ['started', 'stopped']);
      t.same(b.events.map((e) => e.event), ['started']);
    });

    t.test('crash failover: an unreleased Lease is taken over after about leaseDuration', async (t) => {
      // releaseOnStop: false leaves the Lease exactly as a killed process would.
      const a = candidate(t, 'crash', 'replica-a', { releaseOnStop: false });
      const b = candidate(t, 'crash', 'replica-b');
      a.election.start();
      await until('a leads', () => a.election.isLeader());
      b.election.start();
      await sleep(400);
      const before = await justRenewed('crash');
      const crashedAt = Date.now();
      await a.election.stop();
      t.equal((await readLease('crash')).spec.holderIdentity, 'replica-a', 'nothing released');

      await until('b leads', () => b.election.isLeader(), LEASE_MS * 3);
      const takeoverMs = b.startedAt()! - crashedAt;
      t.ok(takeoverMs >= LEASE_MS * 0.8, `b waited ${takeoverMs} ms (>= ${LEASE_MS * 0.8})`);
      t.ok(takeoverMs <= LEASE_MS + 2 * RETRY_MS + 700, `b took over within ${takeoverMs} ms (<= ${LEASE_MS + 2 * RETRY_MS + 700})`);
      const after = await readLease('crash');
      t.equal(after.spec.holderIdentity, 'replica-b');
      t.equal(after.spec.leaseTransitions, before.spec.leaseTransitions + 1);
    });

    t.test("another holder's record: the leader steps down at once and waits a full duration on its own clock", async (t) => {
      const a = candidate(t, 'intruded', 'replica-a');
      a.election.start();
      await until('a leads', () => a.election.isLeader());

      // Someone else deletes and recreates the Lease. Its renewTime is an hour
      // old: a candidate comparing it with its own clock would take over at
      // once; a's clock only starts when it sees the record.
      t.equal((await cp.api('DELETE', leasePath('intruded'))).status, 200);
      const stamp = new Date(Date.now() - 3600_000).toISOString().replace('Z', '000Z');
      const created = await cp.api('POST', `/apis/coordination.k8s.io/v1/namespaces/${NAMESPACE}/leases`, {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: 'intruded' },
        spec: { holderIdentity: 'intruder', leaseDurationSeconds: LEASE_MS / 1000, acquireTime: stamp, renewTime: stamp, leaseTransitions: 7 },
      });
      t.equal(created.status, 201, 'recreated by the intruder', { body: created.body });
      const intrudedAt = Date.now();

      await until('a stops leading', () => !a.election.isLeader(), LEASE_MS * 2);
      const stepDownMs = a.stoppedAt()! - intrudedAt;
      t.ok(stepDownMs < LEASE_MS, `a stepped down ${stepDownMs} ms after the Lease named someone else`);
      t.same(a.events.map((e) => e.event), ['started', 'stopped']);

      await until('a leads again', () => a.election.isLeader(), LEASE_MS * 3);
      const retakeMs = a.startedAt(1)! - intrudedAt;
      t.ok(retakeMs >= LEASE_MS - 50, `the intruder's silent record was honoured for ${retakeMs} ms`);
      t.ok(retakeMs <= LEASE_MS + 2 * RENEW_MS + 2 * RETRY_MS + 700, `then taken over (${retakeMs} ms)`);
      const after = await readLease('intruded');
      t.equal(after.spec.holderIdentity, 'replica-a');
      t.equal(after.spec.leaseTransitions, 8, "counting on from the intruder's record");
    });

    t.test('a leader that cannot renew steps down within leaseDuration, and resumes once the API answers again', async (t) => {
      const closedPort = await freePort();
      const real = apiClient();
      const dead = apiClient({ server: `https://127.0.0.1:${closedPort}` });
      let broken = false;
      const api: LeaseApi = {
        readNamespacedLease: (...args) => (broken ? dead : real).readNamespacedLease(...args),
        createNamespacedLease: (...args) => (broken ? dead : real).createNamespacedLease(...args),
        replaceNamespacedLease: (...args) => (broken ? dead : real).replaceNamespacedLease(...args),
      };
      const a = candidate(t, 'unreachable', 'replica-a', { api });
      a.election.start();
      await until('a leads', () => a.election.isLeader());
      // renewTime is the leader's own clock at the start of its last good
      // renewal, which is where its deadline counts from.
      const lastRenewal = Date.parse((await justRenewed('unreachable')).spec.renewTime);
      broken = true;

      await until('a stops leading', () => !a.election.isLeader(), LEASE_MS * 2);
      const stepDownMs = a.stoppedAt()! - lastRenewal;
      t.ok(stepDownMs >= LEASE_MS - 20 && stepDownMs <= LEASE_MS + 250, `a stepped down ${stepDownMs} ms after its last renewal (lease ${LEASE_MS} ms)`);
      t.same(a.events.map((e) => e.event), ['started', 'stopped']);
      t.ok(a.warnings.length >= 2, `${a.warnings.length} failed renewals logged`);
      t.match(a.warnings[0], { msg: 'renewing the lease failed', obj: { identity: 'replica-a', err: /ECONNREFUSED/ } });
      t.equal((await readLease('unreachable')).spec.holderIdentity, 'replica-a', 'no one else wrote the Lease');

      // Still named the holder and nobody else wrote: it may lead again.
      broken = false;
      await until('a leads again', () => a.election.isLeader(), LEASE_MS);
      t.same(a.events.map((e) => e.event), ['started', 'stopped', 'started']);
      t.equal((await readLease('unreachable')).spec.leaseTransitions, 0, 'same holder: no transition');

      // stop() while unreachable: the release fails, is logged, and stop() still ends.
      broken = true;
      const warned = a.warnings.length;
      await a.election.stop();
      t.same(a.events.map((e) => e.event), ['started', 'stopped', 'started', 'stopped']);
      t.same(a.warnings.slice(warned).map((w) => w.msg), ['releasing the lease failed']);
      t.equal((await readLease('unreachable')).spec.holderIdentity, 'replica-a', 'left to expire');
    });

    t.test('optimistic concurrency: a write that loses the race is a 409, logged as nothing, retried', async (t) => {
      const real = apiClient();
      // Before each of a's writes, someone else writes first.
      const rivals = [
        async () => {
          const reply = await cp.api('POST', `/apis/coordination.k8s.io/v1/namespaces/${NAMESPACE}/leases`, {
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: { name: 'contended' },
            spec: { holderIdentity: '', leaseDurationSeconds: 1, leaseTransitions: 4 },
          });
          t.equal(reply.status, 201, 'the rival created the Lease first');
        },
        async () => {
          const reply = await cp.api('PATCH', leasePath('contended'), { metadata: { labels: { touched: 'yes' } } }, { contentType: 'application/merge-patch+json' });
          t.equal(reply.status, 200, 'the rival changed the Lease after a read it');
        },
      ];
      const writes: string[] = [];
      const api: LeaseApi = {
        readNamespacedLease: (...args) => real.readNamespacedLease(...args),
        createNamespacedLease: async (...args) => {
          writes.push('create');
          await rivals.shift()?.();
          return real.createNamespacedLease(...args);
        },
        replaceNamespacedLease: async (...args) => {
          writes.push('replace');
          await rivals.shift()?.();
          return real.replaceNamespacedLease(...args);
        },
      };
      const a = candidate(t, 'contended', 'replica-a', { api });
      a.election.start();
      await until('a leads', () => a.election.isLeader());
      t.same(writes, ['create', 'replace', 'replace'], 'create lost (409), replace with a stale resourceVersion lost (409), then won');
      t.same(a.warnings, [], 'conflicts are not errors');
      const lease = await readLease('contended');
      t.equal(lease.spec.holderIdentity, 'replica-a');
      t.equal(lease.spec.leaseTransitions, 5, 'took over from the empty holder');
      t.equal(lease.metadata.labels.touched, 'yes', "the rival's change was read, not overwritten");
    });

    t.test('other API errors (403 on read, create, update) are logged and retried', async (t) => {
      // NOBODY may only read two Leases by name.
      const rbac = '/apis/rbac.authorization.k8s.io/v1/namespaces/' + NAMESPACE;
      const role = await cp.api('POST', `${rbac}/roles`, {
        metadata: { name: 'lease-reader' },
        rules: [{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], resourceNames: ['no-create', 'no-update'], verbs: ['get'] }],
      });
      const binding = await cp.api('POST', `${rbac}/rolebindings`, {
        metadata: { name: 'lease-reader' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'lease-reader' },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: NOBODY.user }],
      });
      t.same([role.status, binding.status], [201, 201]);
      const free = await cp.api('POST', `/apis/coordination.k8s.io/v1/namespaces/${NAMESPACE}/leases`, {
        metadata: { name: 'no-update' },
        spec: { holderIdentity: '', leaseDurationSeconds: 1 },
      });
      t.equal(free.status, 201);
      await waitFor('the grant to apply', async () => ((await cp.api('GET', leasePath('no-update'), undefined, { as: NOBODY })).status === 200 ? true : undefined));

      const cases = [
        { lease: 'no-read', msg: 'acquiring the lease failed', err: /cannot get resource "leases"/ },
        { lease: 'no-create', msg: 'acquiring the lease failed', err: /cannot create resource "leases"/ },
        { lease: 'no-update', msg: 'acquiring the lease failed', err: /cannot update resource "leases"/ },
      ];
      const candidates = cases.map((c) => candidate(t, c.lease, 'replica-a', { api: apiClient({ token: NOBODY.token }) }));
      for (const c of candidates) c.election.start();
      await until('two failed attempts each', () => candidates.every((c) => c.warnings.length >= 2));
      cases.forEach((expected, i) => {
        const c = candidates[i]!;
        t.equal(c.election.isLeader(), false, `${expected.lease}: not leading`);
        t.same(c.events, []);
        t.match(c.warnings[0], { msg: expected.msg, obj: { lease: `${NAMESPACE}/${expected.lease}`, identity: 'replica-a', status: 403, err: expected.err } });
      });
    });

    t.test('an API server that stops answering: the leader steps down at its deadline, stop() does not hang', async (t) => {
      const lease = { leaseDurationMs: 1000, renewIntervalMs: 300, retryIntervalMs: 200 };
      const real = apiClient();
      // The next write is held back this long, like a request stuck in a dead connection.
      let holdNextWrite = 0;
      let writeHeld: () => void = () => {};
      const api: LeaseApi = {
        readNamespacedLease: (...args) => real.readNamespacedLease(...args),
        createNamespacedLease: (...args) => real.createNamespacedLease(...args),
        replaceNamespacedLease: async (...args) => {
          const ms = holdNextWrite;
          holdNextWrite = 0;
          if (ms > 0) {
            writeHeld();
            await sleep(ms);
          }
          return real.replaceNamespacedLease(...args);
        },
      };
      const a = candidate(t, 'stuck', 'replica-a', { api, ...lease });
      a.election.start();
      await until('a leads', () => a.election.isLeader());
      const lastRenewal = Date.parse((await justRenewed('stuck')).spec.renewTime);
      holdNextWrite = lease.leaseDurationMs + 100;
      await until('a stops leading', () => !a.election.isLeader(), 3000);
      const stepDownMs = a.stoppedAt()! - lastRenewal;
      t.ok(
        stepDownMs >= lease.leaseDurationMs - 20 && stepDownMs <= lease.leaseDurationMs + 250,
        `stepped down ${stepDownMs} ms after its last renewal, the next one still in flight`,
      );
      // The held renewal lands after the deadline: not trusted; the next one is.
      await until('a leads again', () => a.election.isLeader(), 3000);
      t.same(a.events.map((e) => e.event), ['started', 'stopped', 'started']);

      const renewedBeforeStop = Date.parse((await justRenewed('stuck')).spec.renewTime);
      const held = new Promise<void>((resolve) => (writeHeld = resolve));
      holdNextWrite = 1200;
      await held;
      const stopAt = Date.now();
      await a.election.stop();
      const stopMs = Date.now() - stopAt;
      t.ok(stopMs >= lease.leaseDurationMs - 50 && stopMs < lease.leaseDurationMs + 800, `stop() waited ${stopMs} ms for the stuck renewal, then went on`);
      const leftMs = a.stoppedAt(1)! - renewedBeforeStop;
      t.ok(leftMs <= lease.leaseDurationMs + 250, `while stop() waited, leadership still ended at the deadline (${leftMs} ms after the last renewal)`);
      t.same(a.events.map((e) => e.event), ['started', 'stopped', 'started', 'stopped']);
      t.same(a.warnings.map((w) => w.msg), ['the lease attempt in flight did not finish within 1000 ms; going on']);
      t.equal((await readLease('stuck')).spec.holderIdentity, '', 'released');
      await sleep(1200 - (Date.now() - stopAt) + 200);
      t.equal((await readLease('stuck')).spec.holderIdentity, '', 'the stuck renewal landed later with a stale resourceVersion and changed nothing');
    });

    t.test('stop() while unreachable: no hang, no throw; callbacks that throw are logged', async (t) => {
      const closedPort = await freePort();
      const a = candidate(t, 'never', 'replica-a', {
        api: apiClient({ server: `https://127.0.0.1:${closedPort}` }),
        onStartedLeading: () => {
          throw new Error('unused');
        },
      });
      a.election.start();
      await until('a first failure', () => a.warnings.length > 0);
      await a.election.stop();
      t.equal(a.election.isLeader(), false);
      t.match(a.warnings[0], { msg: 'acquiring the lease failed', obj: { err: /ECONNREFUSED/ } });

      const thrower = candidate(t, 'throwing', 'replica-t', {
        onStartedLeading: () => {
          throw new Error('start boom');
        },
        onStoppedLeading: async () => {
          throw new Error('stop boom');
        },
      });
      thrower.election.start();
      await until('thrower leads', () => thrower.election.isLeader());
      await sleep(1.5 * RENEW_MS);
      t.equal(thrower.election.isLeader(), true, 'a throwing onStartedLeading does not cost leadership');
      await thrower.election.stop();
      t.same(
        thrower.warnings.map((w) => w.msg),
        ['onStartedLeading failed', 'onStoppedLeading failed'],
      );
      t.equal((await readLease('throwing')).spec.holderIdentity, '', 'released all the same');
    });
  });
}
