import t from 'tap';
import { decideLease, type LeaseDecision, type LeaseDecisionInput, type LeaseRecord, type Observed } from '../../src/reconciler/lease-decision.js';

// The Lease decision on its own: a fake clock is just numbers. No network, no timers.

const ME = 'replica-a';
const LEASE_MS = 15_000;
const T0 = 1_767_323_045_678; // 2026-01-02T03:04:05.678Z

const held = (overrides: LeaseRecord = {}): LeaseRecord => ({
  holderIdentity: 'replica-b',
  leaseDurationSeconds: 15,
  acquireTime: '2026-01-02T03:00:00.000000Z',
  renewTime: '2026-01-02T03:04:00.000000Z',
  leaseTransitions: 3,
  resourceVersion: '41',
  ...overrides,
});

const decide = (input: Partial<LeaseDecisionInput> & Pick<LeaseDecisionInput, 'lease'>) =>
  decideLease({ identity: ME, leaseDurationMs: LEASE_MS, now: T0, writeAt: T0, observed: undefined, ...input });

const specOf = (decision: LeaseDecision) => ('spec' in decision ? decision.spec : undefined);

/** Looks at the same record at each of `times`, carrying the observation along as lease.ts does. */
function lookAt(lease: LeaseRecord, times: number[], identity = ME, leaseDurationMs = LEASE_MS) {
  let observed: Observed | undefined;
  return times.map((now) => {
    const decision = decideLease({ lease, identity, leaseDurationMs, now, writeAt: now, observed });
    observed = decision.observed;
    return decision;
  });
}

t.test('no Lease (404): create it, holding it from writeAt, no transitions yet', async (t) => {
  t.strictSame(decide({ lease: undefined, writeAt: T0 - 7 }), {
    action: 'create',
    spec: { holderIdentity: ME, leaseDurationSeconds: 15, acquireTime: T0 - 7, renewTime: T0 - 7, leaseTransitions: 0 },
    observed: undefined,
  });
  const observed = { record: 'whatever', since: T0 - 1000 };
  t.equal(decide({ lease: undefined, observed }).observed, observed, 'an earlier observation is left to the caller');
});

t.test('leaseDurationSeconds written is our duration rounded up to whole seconds', async (t) => {
  const written = (leaseDurationMs: number) => specOf(decide({ lease: undefined, leaseDurationMs }));
  t.match(written(15_000), { leaseDurationSeconds: 15 });
  t.match(written(1500), { leaseDurationSeconds: 2 });
  t.match(written(1), { leaseDurationSeconds: 1 }, 'never 0, which the API server rejects');
});

t.test('free (empty holder): take it over at once, a new acquireTime, one more transition', async (t) => {
  const observed = { record: 'earlier', since: T0 - 99 };
  t.strictSame(decide({ lease: held({ holderIdentity: '' }), writeAt: T0 - 5, observed }), {
    action: 'take_over',
    reason: 'free',
    spec: { holderIdentity: ME, leaseDurationSeconds: 15, renewTime: T0 - 5, acquireTime: T0 - 5, leaseTransitions: 4 },
    observed,
  });
  t.match(decide({ lease: { resourceVersion: '7' } }), { action: 'take_over', reason: 'free', spec: { leaseTransitions: 1 } }, 'no holder, no transitions written: as free, counting from 0');
  t.match(decide({ lease: held({ holderIdentity: '', leaseDurationSeconds: 1, renewTime: new Date(T0 + 3600_000) }) }), { action: 'take_over' }, "a release's renewTime and 1 s do not matter");
});

t.test('our own identity: renew, keeping acquireTime and leaseTransitions', async (t) => {
  const decision = decide({ lease: held({ holderIdentity: ME }), writeAt: T0 - 3 });
  t.strictSame(decision, { action: 'renew', spec: { holderIdentity: ME, leaseDurationSeconds: 15, renewTime: T0 - 3 }, observed: undefined });
  const spec = specOf(decision) ?? {};
  t.notOk('acquireTime' in spec || 'leaseTransitions' in spec, 'not written, so the record keeps its own');
  t.match(decide({ lease: held({ holderIdentity: ME, renewTime: '1970-01-01T00:00:00.000000Z', leaseDurationSeconds: 1 }) }), { action: 'renew' }, 'however old our own record looks');
  t.match(decide({ lease: held({ holderIdentity: ME }), leaseDurationMs: 4000 }), { spec: { leaseDurationSeconds: 4 } }, "our duration, not the record's");
});

t.test('another holder, first seen: wait, and remember the record from now', async (t) => {
  const decision = decide({ lease: held(), now: T0 + 20, writeAt: T0 });
  t.match(decision, { action: 'wait', holder: 'replica-b', unchangedForMs: 0, validMs: 15_000, observed: { since: T0 + 20 } }, 'seen when the answer came (now), not when we asked (writeAt)');
  t.notOk('spec' in decision, 'nothing to write');
});

t.test("another holder's unchanged record: wait while within its duration, take over at exactly its duration", async (t) => {
  const decisions = lookAt(held(), [T0, T0 + 2000, T0 + 14_999, T0 + 15_000]);
  t.same(
    decisions.map((d) => d.action),
    ['wait', 'wait', 'wait', 'take_over'],
  );
  t.same(
    decisions.map((d) => ('unchangedForMs' in d ? d.unchangedForMs : undefined)),
    [0, 2000, 14_999, 15_000],
  );
  t.ok(decisions.every((d) => d.observed?.since === T0), 'counted from the first look');
  t.strictSame(decisions[3], {
    action: 'take_over',
    reason: 'expired',
    previousHolder: 'replica-b',
    unchangedForMs: 15_000,
    spec: { holderIdentity: ME, leaseDurationSeconds: 15, renewTime: T0 + 15_000, acquireTime: T0 + 15_000, leaseTransitions: 4 },
    observed: decisions[2]!.observed,
  });
  t.match(lookAt(held(), [T0, T0 + 60_000]), [{ action: 'wait' }, { action: 'take_over', unchangedForMs: 60_000 }], 'long after, too');
});

t.test("the holder's renewTime is never compared with our clock", async (t) => {
  const ancient = held({ renewTime: '2000-01-01T00:00:00.000000Z' });
  t.match(decide({ lease: ancient }), { action: 'wait', unchangedForMs: 0 }, 'an hour-old (or skewed) renewTime is only a record we have just seen');
  const future = held({ renewTime: new Date(T0 + 3600_000) });
  t.match(lookAt(future, [T0, T0 + 15_000]), [{ action: 'wait' }, { action: 'take_over' }], 'a renewTime in our future buys no extra time');
});

t.test('any change to the record starts the count again', async (t) => {
  const first = decide({ lease: held(), now: T0 });
  const changes: Array<[string, LeaseRecord]> = [
    ['a renewal (new renewTime and resourceVersion)', held({ renewTime: '2026-01-02T03:04:05.000000Z', resourceVersion: '42' })],
    ['the same renewTime with a new resourceVersion', held({ resourceVersion: '42' })],
    ['a new renewTime, the same resourceVersion', held({ renewTime: '2026-01-02T03:04:05.000000Z' })],
    ['another holder', held({ holderIdentity: 'replica-c' })],
  ];
  for (const [what, lease] of changes) {
    const decision = decide({ lease, now: T0 + 20_000, observed: first.observed });
    t.match(decision, { action: 'wait', unchangedForMs: 0, observed: { since: T0 + 20_000 } }, what);
    t.not(decision.observed?.record, first.observed?.record);
  }
  const unchanged = decide({ lease: held({ acquireTime: 'changed', leaseTransitions: 9, leaseDurationSeconds: 30 }), now: T0 + 20_000, observed: first.observed });
  t.match(unchanged, { action: 'wait', unchangedForMs: 20_000 }, 'other fields are not what a renewal changes: holder, renewTime and resourceVersion are the record');
  t.equal(unchanged.observed, first.observed, 'the observation itself is kept, not copied');

  const bare: LeaseRecord = { holderIdentity: 'replica-b' };
  t.same(
    lookAt(bare, [T0, T0 + 14_999, T0 + 15_000]).map((d) => d.action),
    ['wait', 'wait', 'take_over'],
    'a holder that wrote no renewTime (and a record without a resourceVersion) is timed all the same',
  );
  const [seen] = lookAt(bare, [T0]);
  t.match(decide({ lease: { ...bare, renewTime: '2026-01-02T03:04:05.000000Z' }, now: T0 + 20_000, observed: seen!.observed }), { action: 'wait', unchangedForMs: 0 }, 'its first renewTime is a change');
});

t.test("how long a silent record is valid: the holder's own leaseDurationSeconds, ours when it states none", async (t) => {
  const validMs = (lease: LeaseRecord, leaseDurationMs = LEASE_MS) => {
    const decision = decide({ lease, leaseDurationMs });
    return decision.action === 'wait' ? decision.validMs : undefined;
  };
  t.equal(validMs(held({ leaseDurationSeconds: 60 })), 60_000, "a longer duration than ours is honoured: a shorter-configured replica cannot cut the holder's lease short");
  t.equal(validMs(held({ leaseDurationSeconds: 5 })), 5000, "and so is a shorter one: it is the holder's promise");
  t.equal(validMs(held({ leaseDurationSeconds: undefined })), LEASE_MS, 'missing: ours');
  t.equal(validMs(held({ leaseDurationSeconds: 0 })), LEASE_MS, '0: ours');
  t.equal(validMs(held({ leaseDurationSeconds: -3 })), LEASE_MS, 'negative: ours');
  t.equal(validMs(held({ leaseDurationSeconds: undefined }), 2500), 2500, 'ours to the millisecond, not rounded to seconds');

  t.same(
    lookAt(held({ leaseDurationSeconds: 60 }), [T0, T0 + 15_000, T0 + 59_999, T0 + 60_000]).map((d) => d.action),
    ['wait', 'wait', 'wait', 'take_over'],
    'a 60 s holder is waited for 60 s by a 15 s candidate',
  );
  t.same(
    lookAt(held({ leaseDurationSeconds: 0 }), [T0, T0 + 14_999, T0 + 15_000]).map((d) => d.action),
    ['wait', 'wait', 'take_over'],
  );
});

t.test('a clock that steps back never takes over early', async (t) => {
  t.same(
    lookAt(held(), [T0, T0 - 10_000, T0 + 14_999, T0 + 15_000]).map((d) => d.action),
    ['wait', 'wait', 'wait', 'take_over'],
  );
});

t.test('a candidate looking every 2 s at a holder renewing every 5 s never takes over; once the renewals stop, it does after 15 s', async (t) => {
  // The holder's record changes at each renewal; the candidate only ever sees what is there when it looks.
  const renewalsUntil = 60_000;
  const recordAt = (ms: number): LeaseRecord => {
    const renewal = Math.floor(Math.min(ms, renewalsUntil) / 5000);
    return held({ renewTime: `renewal ${renewal}`, resourceVersion: String(100 + renewal) });
  };
  let observed: Observed | undefined;
  let takenAt: number | undefined;
  for (let ms = 0; ms <= 120_000 && takenAt === undefined; ms += 2000) {
    const decision = decideLease({ lease: recordAt(ms), identity: ME, leaseDurationMs: LEASE_MS, now: T0 + ms, writeAt: T0 + ms, observed });
    observed = decision.observed;
    if (decision.action !== 'wait') takenAt = ms;
  }
  // The last renewal is written at 60 s, first seen at 60 s (a look lands on it): 60 + 15 = 75.
  t.equal(takenAt, 76_000, 'the first look at or after 75 s');
});

t.test('pure: the input is not touched', async (t) => {
  const lease = Object.freeze(held());
  const observed = Object.freeze({ record: 'x', since: T0 - 1 });
  const input = Object.freeze({ lease, identity: ME, leaseDurationMs: LEASE_MS, now: T0, writeAt: T0, observed });
  const again = decideLease(input);
  t.strictSame(decideLease(input), again, 'the same answer for the same input');
  t.strictSame(lease, held());
});
