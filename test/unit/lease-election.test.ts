import t, { type Test } from 'tap';
import type { V1Lease } from '@kubernetes/client-node';
import { electLeader, type LeaderElection, type LeaseApi, type LeaseOptions } from '../../src/reconciler/lease.js';

// electLeader's loop against an in-memory Lease with the API server's
// optimistic concurrency (a replace with a stale resourceVersion is a 409).
// Timers are real but tiny (retries every ~20 ms); time as electLeader sees
// it is a fake clock the tests move, so expiry needs no waiting.

const NAMESPACE = 'ns';
const NAME = 'lease';
const LEASE_MS = 1000;
const T0 = Date.UTC(2026, 0, 2, 3, 4, 5, 678);

const apiError = (code: number, message: string) => Object.assign(new Error(`HTTP-Code: ${code}`), { code, body: JSON.stringify({ kind: 'Status', message }) });
const clone = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

/** One Lease object, as the API server keeps it: JSON in, JSON out, a resourceVersion bumped by every write that changes it. */
class FakeLeaseServer {
  lease: V1Lease | undefined;
  private version = 100;
  /** Reads answered, all candidates together. */
  reads = 0;
  /** Every write, as the JSON the client would send. */
  writes: { verb: 'create' | 'replace'; body: any; status: number }[] = [];
  /** Runs before the next writes land, e.g. a rival writing first. */
  beforeWrite: Array<() => void> = [];

  /** A LeaseApi for one candidate; `broken` makes every call fail like a refused connection. */
  api(state: { broken?: boolean } = {}): LeaseApi {
    const down = () => {
      if (state.broken) throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6443'), { code: 'ECONNREFUSED' });
    };
    return {
      readNamespacedLease: async ({ name, namespace }) => {
        await Promise.resolve();
        down();
        this.reads++;
        if (this.lease === undefined || name !== NAME || namespace !== NAMESPACE) throw apiError(404, `leases "${name}" not found`);
        return clone(this.lease);
      },
      createNamespacedLease: async ({ body }) => {
        await Promise.resolve();
        down();
        this.beforeWrite.shift()?.();
        const sent = clone(body);
        if (this.lease !== undefined) {
          this.writes.push({ verb: 'create', body: sent, status: 409 });
          throw apiError(409, `leases "${NAME}" already exists`);
        }
        this.writes.push({ verb: 'create', body: sent, status: 201 });
        this.store(sent);
        return clone(this.lease!);
      },
      replaceNamespacedLease: async ({ body }) => {
        await Promise.resolve();
        down();
        this.beforeWrite.shift()?.();
        const sent = clone(body);
        if (this.lease === undefined) throw apiError(404, `leases "${NAME}" not found`);
        if (sent.metadata?.resourceVersion !== this.lease.metadata?.resourceVersion) {
          this.writes.push({ verb: 'replace', body: sent, status: 409 });
          throw apiError(409, 'the object has been modified; please apply your changes to the latest version and try again');
        }
        this.writes.push({ verb: 'replace', body: sent, status: 200 });
        // A replace that changes nothing keeps the resourceVersion.
        if (JSON.stringify([sent.spec, sent.metadata?.labels]) !== JSON.stringify([this.lease.spec, this.lease.metadata?.labels])) this.store(sent);
        return clone(this.lease);
      },
    };
  }

  /** Someone else's write, straight to storage. */
  store(lease: V1Lease): void {
    this.lease = clone({ ...lease, metadata: { ...lease.metadata, name: NAME, namespace: NAMESPACE, resourceVersion: String(++this.version) } });
  }
}

interface Candidate {
  identity: string;
  election: LeaderElection;
  events: string[];
  infos: { msg: string; obj: any }[];
  warnings: { msg: string; obj: any }[];
}

function setup(t: Test) {
  const server = new FakeLeaseServer();
  const clock = { time: T0 };
  const candidates: Candidate[] = [];
  const candidate = (identity: string, overrides: Partial<LeaseOptions> = {}): Candidate => {
    const events: string[] = [];
    const infos: Candidate['infos'] = [];
    const warnings: Candidate['warnings'] = [];
    const election = electLeader({
      api: server.api(),
      namespace: NAMESPACE,
      name: NAME,
      identity,
      leaseDurationMs: LEASE_MS,
      renewIntervalMs: 30,
      retryIntervalMs: 20,
      logger: { info: (obj, msg) => infos.push({ obj, msg }), warn: (obj, msg) => warnings.push({ obj, msg }) },
      onStartedLeading: () => void events.push('started'),
      onStoppedLeading: () => void events.push('stopped'),
      now: () => clock.time,
      ...overrides,
    });
    const c = { identity, election, events, infos, warnings };
    candidates.push(c);
    return c;
  };
  t.teardown(() => Promise.all(candidates.map((c) => c.election.stop())));
  return { server, clock, candidate };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
async function until(what: string, condition: () => boolean, ms = 1000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await sleep(2);
  }
}
/**
 * Until the Lease has been read twice more: with one candidate looking, its
 * attempt on the first of those reads is then decided (attempts do not overlap).
 */
const twoLooks = (server: FakeLeaseServer) => {
  const reads = server.reads + 2;
  return until('two more looks at the Lease', () => server.reads >= reads);
};

// "2026-01-02T03:04:05.678000Z": MicroTime, six fractional digits.
const micro = (ms: number) => new Date(ms).toISOString().replace('Z', '000Z');

t.test('rejects impossible timings', async (t) => {
  const base = {
    api: new FakeLeaseServer().api(),
    namespace: NAMESPACE,
    name: NAME,
    identity: 'x',
    logger: { info() {}, warn() {} },
    onStartedLeading() {},
    onStoppedLeading() {},
  };
  t.throws(() => electLeader({ ...base, leaseDurationMs: 3000, renewIntervalMs: 3000, retryIntervalMs: 300 }), RangeError);
  t.throws(() => electLeader({ ...base, leaseDurationMs: 0, renewIntervalMs: 500, retryIntervalMs: 300 }), RangeError);
  t.throws(() => electLeader({ ...base, leaseDurationMs: 3000, renewIntervalMs: 500, retryIntervalMs: NaN }), RangeError);
  t.throws(() => electLeader({ ...base, identity: '', leaseDurationMs: 3000, renewIntervalMs: 500, retryIntervalMs: 300 }), RangeError);
});

t.test('two candidates on a missing Lease: one creates it and leads, the other waits', async (t) => {
  const { server, candidate } = setup(t);
  const a = candidate('replica-a');
  const b = candidate('replica-b');
  a.election.start();
  b.election.start();
  await until('someone leads', () => a.election.isLeader() || b.election.isLeader());
  const [leader, other] = a.election.isLeader() ? [a, b] : [b, a];
  for (let i = 0; i < 15; i++) {
    t.not(a.election.isLeader(), b.election.isLeader(), 'exactly one leader');
    await sleep(10);
  }
  t.equal(leader.election.isLeader(), true, 'the same leader all along');
  t.same(leader.events, ['started']);
  t.same(other.events, [], 'the other never led');

  const creates = server.writes.filter((w) => w.verb === 'create');
  t.same(
    creates.map((w) => w.status),
    [201, 409],
    'both created, one lost',
  );
  t.strictSame(creates[0]!.body, {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name: NAME, namespace: NAMESPACE },
    spec: { holderIdentity: leader.identity, leaseDurationSeconds: 1, acquireTime: micro(T0), renewTime: micro(T0), leaseTransitions: 0 },
  });
  t.equal(server.lease?.spec?.holderIdentity, leader.identity);
  t.same([...a.warnings, ...b.warnings], [], 'a lost race is a conflict, not an error');
  t.same(other.infos, [], 'the waiting candidate logs nothing');
});

t.test('renewals: a new renewTime each time, acquireTime and leaseTransitions kept', async (t) => {
  const { server, clock, candidate } = setup(t);
  const a = candidate('replica-a');
  a.election.start();
  await until('a leads', () => a.election.isLeader());
  clock.time = T0 + 250;
  const renewed = server.writes.length;
  await until('a renews', () => server.writes.length > renewed);
  const renewal = server.writes.at(-1)!;
  t.equal(renewal.verb, 'replace');
  t.equal(renewal.status, 200);
  t.strictSame(
    renewal.body.spec,
    { holderIdentity: 'replica-a', leaseDurationSeconds: 1, acquireTime: micro(T0), renewTime: micro(T0 + 250), leaseTransitions: 0 },
    'the record read, with a new renewTime',
  );
  t.match(renewal.body.metadata, { name: NAME, namespace: NAMESPACE, resourceVersion: /^\d+$/ }, 'fenced by the resourceVersion read');
  t.same(a.events, ['started']);
  t.same(
    a.infos.map((i) => i.msg),
    ['started leading'],
  );
});

t.test('the leader stops: it releases the Lease and the other takes over at its next look', async (t) => {
  const { server, clock, candidate } = setup(t);
  const a = candidate('replica-a');
  const b = candidate('replica-b');
  a.election.start();
  await until('a leads', () => a.election.isLeader());
  b.election.start();
  await sleep(100);
  t.equal(b.election.isLeader(), false, 'b waits while a renews');

  clock.time = T0 + 10;
  await a.election.stop();
  t.same(a.events, ['started', 'stopped']);
  t.equal(a.election.isLeader(), false);
  const release = server.writes.at(-1)!;
  t.strictSame(
    release.body.spec,
    { holderIdentity: '', leaseDurationSeconds: 1, acquireTime: micro(T0), renewTime: micro(T0 + 10), leaseTransitions: 0 },
    'released: empty holder, 1 s',
  );
  t.same(
    a.infos.map((i) => i.msg),
    ['started leading', 'stopped leading', 'released the lease'],
  );
  t.same(a.infos[1]!.obj, { lease: `${NAMESPACE}/${NAME}`, identity: 'replica-a', reason: 'stopped' });

  clock.time = T0 + 20; // no waiting for expiry: an empty holder is free
  await until('b leads', () => b.election.isLeader(), 500);
  const takeover = server.writes.find((w) => w.body.spec.holderIdentity === 'replica-b')!;
  t.strictSame(
    takeover.body.spec,
    { holderIdentity: 'replica-b', leaseDurationSeconds: 1, acquireTime: micro(T0 + 20), renewTime: micro(T0 + 20), leaseTransitions: 1 },
    'a new acquireTime, one more transition',
  );
  t.same(
    b.infos.map((i) => i.msg),
    ['started leading'],
    'a free Lease is no expiry: not logged as one',
  );
  t.same(b.events, ['started']);
  t.same([...a.warnings, ...b.warnings], []);

  await a.election.stop();
  t.same(a.events, ['started', 'stopped'], 'a second stop() calls nothing');
});

t.test('crash: an unreleased Lease is taken over once its record has not changed for its duration on our clock', async (t) => {
  const { server, clock, candidate } = setup(t);
  const a = candidate('replica-a', { releaseOnStop: false });
  const b = candidate('replica-b');
  a.election.start();
  await until('a leads', () => a.election.isLeader());
  await a.election.stop();
  t.equal(server.lease?.spec?.holderIdentity, 'replica-a', 'nothing released');
  const crashed = server.writes.length;

  b.election.start();
  await twoLooks(server);
  clock.time = T0 + LEASE_MS - 1;
  await twoLooks(server);
  t.equal(b.election.isLeader(), false, 'still valid 1 ms before its duration');
  t.equal(server.writes.length, crashed, 'b wrote nothing');

  clock.time = T0 + LEASE_MS;
  await until('b leads', () => b.election.isLeader(), 500);
  t.same(
    b.infos.map((i) => i.msg),
    ['lease expired, taking it over', 'started leading'],
  );
  t.same(b.infos[0]!.obj, { lease: `${NAMESPACE}/${NAME}`, identity: 'replica-b', previousHolder: 'replica-a', unchangedForMs: LEASE_MS });
  t.strictSame(server.writes[crashed]!.body.spec, {
    holderIdentity: 'replica-b',
    leaseDurationSeconds: 1,
    acquireTime: micro(T0 + LEASE_MS),
    renewTime: micro(T0 + LEASE_MS),
    leaseTransitions: 1,
  });
});

t.test("another holder's record: the leader steps down at once, then honours the holder's longer duration", async (t) => {
  const { server, clock, candidate } = setup(t);
  const a = candidate('replica-a');
  a.election.start();
  await until('a leads', () => a.election.isLeader());

  // Its renewTime is an hour old: only our clock counts, from when we see it.
  const old = micro(T0 - 3600_000);
  server.store({ metadata: {}, spec: { holderIdentity: 'intruder', leaseDurationSeconds: 3, acquireTime: old as any, renewTime: old as any, leaseTransitions: 7 } });
  await until('a steps down', () => !a.election.isLeader());
  t.same(a.events, ['started', 'stopped']);
  t.same(a.infos.at(-1), { msg: 'stopped leading', obj: { lease: `${NAMESPACE}/${NAME}`, identity: 'replica-a', reason: 'the lease has another holder' } });

  await twoLooks(server); // seen at T0
  clock.time = T0 + 2000;
  await twoLooks(server);
  t.equal(a.election.isLeader(), false, "past our own duration, within the holder's 3 s");
  // The holder renews: unchanged since T0 no more, the count starts again.
  server.store({ ...server.lease!, spec: { ...server.lease!.spec, renewTime: micro(T0) as any } });
  clock.time = T0 + 4000;
  await twoLooks(server);
  clock.time = T0 + 6999;
  await twoLooks(server);
  t.equal(a.election.isLeader(), false, 'the renewal was seen at T0 + 4 s: valid until T0 + 7 s');
  t.equal(server.lease?.spec?.holderIdentity, 'intruder');
  clock.time = T0 + 7000;
  await until('a leads again', () => a.election.isLeader(), 500);
  t.match(a.infos.at(-2), { msg: 'lease expired, taking it over', obj: { previousHolder: 'intruder', unchangedForMs: 3000 } });
  t.same(a.events, ['started', 'stopped', 'started']);
  t.equal(server.lease?.spec?.leaseTransitions, 8, "counting on from the holder's record");
  t.equal(server.lease?.spec?.leaseDurationSeconds, 1, 'our own duration written');
});

t.test('optimistic concurrency: writes that lose the race are 409s, logged as nothing, retried', async (t) => {
  const { server, candidate } = setup(t);
  server.beforeWrite.push(
    // The rival creates the Lease, free, before a's create lands...
    () => server.store({ metadata: {}, spec: { holderIdentity: '', leaseDurationSeconds: 1, leaseTransitions: 4 } }),
    // ...and changes it between a's read and a's replace.
    () => server.store({ ...server.lease!, metadata: { ...server.lease!.metadata, labels: { touched: 'yes' } } }),
  );
  const a = candidate('replica-a');
  a.election.start();
  await until('a leads', () => a.election.isLeader());
  t.same(
    server.writes.slice(0, 3).map((w) => `${w.verb} ${w.status}`),
    ['create 409', 'replace 409', 'replace 200'],
  );
  t.same(a.warnings, [], 'conflicts are not errors');
  t.equal(server.lease?.spec?.holderIdentity, 'replica-a');
  t.equal(server.lease?.spec?.leaseTransitions, 5, 'took over from the empty holder');
  t.equal(server.lease?.metadata?.labels?.touched, 'yes', "the rival's change was read, not overwritten");
});

t.test('a leader that cannot renew steps down at its deadline and resumes when the API answers', async (t) => {
  const server = new FakeLeaseServer();
  const state = { broken: false };
  const { candidate } = setup(t);
  // Real time here: the renew deadline is a timer, counted on the clock.
  const a = candidate('replica-a', { api: server.api(state), leaseDurationMs: 150, renewIntervalMs: 40, retryIntervalMs: 20, now: Date.now });
  a.election.start();
  await until('a leads', () => a.election.isLeader());
  state.broken = true;
  const brokenAt = Date.now();
  await until('a steps down', () => !a.election.isLeader(), 1000);
  // The deadline is 150 ms after the last good renewal; the slack is for a busy machine.
  t.ok(Date.now() - brokenAt <= 150 + 300, `stepped down ${Date.now() - brokenAt} ms after the API broke (lease 150 ms)`);
  t.same(a.events, ['started', 'stopped']);
  t.match(a.warnings[0], { msg: 'renewing the lease failed', obj: { identity: 'replica-a', err: /ECONNREFUSED/ } });
  t.match(a.infos.at(-1), { msg: 'stopped leading', obj: { reason: 'lease not renewed for 150 ms' } });
  state.broken = false;
  await until('a leads again', () => a.election.isLeader(), 1000);
  t.same(a.events, ['started', 'stopped', 'started']);
  t.equal(server.lease?.spec?.leaseTransitions, 0, 'same holder: no transition');
});
