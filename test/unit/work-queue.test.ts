import t from 'tap';
import { WorkQueue } from '../../src/reconciler/work-queue.js';
import { FakeClock } from '../helpers/fake-clock.js';

// The keyed work queue against a fake clock: no sleeps.

/** A process() whose calls the test completes by hand. */
function manual() {
  const calls: { key: string; finish: (error?: Error) => void }[] = [];
  let active = 0;
  let maxActive = 0;
  const perKey = new Map<string, number>();
  let overlap = false;
  const process = (key: string) =>
    new Promise<void>((resolve, reject) => {
      active++;
      maxActive = Math.max(maxActive, active);
      perKey.set(key, (perKey.get(key) ?? 0) + 1);
      if ((perKey.get(key) ?? 0) > 1) overlap = true;
      calls.push({
        key,
        finish: (error) => {
          active--;
          perKey.set(key, (perKey.get(key) ?? 1) - 1);
          if (error) reject(error);
          else resolve();
        },
      });
    });
  return { calls, process, maxActive: () => maxActive, overlap: () => overlap };
}

const settle = async () => {
  for (let i = 0; i < 10; i++) await Promise.resolve();
};

t.test('a key added many times before a worker takes it is processed once', async (t) => {
  const clock = new FakeClock();
  const work = manual();
  const queue = new WorkQueue<string>({ workers: 2, process: work.process, backoffMs: () => 1000, clock });
  for (let i = 0; i < 5; i++) queue.add('ns-a');
  queue.add('ns-b');
  queue.add('ns-a');
  await settle();
  t.same(work.calls.map((c) => c.key), ['ns-a', 'ns-b'], 'once each, in the order they became dirty');
  for (const call of work.calls) call.finish();
  await queue.idle();
  t.equal(queue.length, 0);
});

t.test('never one key twice at once: added while in progress, it runs again after', async (t) => {
  const clock = new FakeClock();
  const work = manual();
  const queue = new WorkQueue<string>({ workers: 4, process: work.process, backoffMs: () => 1000, clock });
  queue.add('ns-a');
  await settle();
  queue.add('ns-a');
  queue.add('ns-a');
  await settle();
  t.equal(work.calls.length, 1, 'not started a second time while the first runs');
  t.equal(queue.length, 2, 'one in progress, one waiting');
  work.calls[0]?.finish();
  await settle();
  t.equal(work.calls.length, 2, 'runs again once the first is done');
  work.calls[1]?.finish();
  await queue.idle();
  t.notOk(work.overlap(), 'no overlap');
});

t.test('at most `workers` keys at once', async (t) => {
  const clock = new FakeClock();
  const work = manual();
  const queue = new WorkQueue<string>({ workers: 3, process: work.process, backoffMs: () => 1000, clock });
  for (let i = 0; i < 10; i++) queue.add(`ns-${i}`);
  await settle();
  t.equal(work.calls.length, 3);
  while (work.calls.some((c) => c.finish)) {
    const next = work.calls.shift();
    if (next === undefined) break;
    next.finish();
    await settle();
  }
  await queue.idle();
  t.equal(work.maxActive(), 3);
});

t.test('failures retry with the key\'s own growing backoff, reset by a success', async (t) => {
  const clock = new FakeClock();
  let failNext = 2;
  const runs: { key: string; at: number }[] = [];
  const errors: [string, number][] = [];
  const queue = new WorkQueue<string>({
    workers: 1,
    clock,
    backoffMs: (attempt) => 1000 * 2 ** attempt,
    process: async (key) => {
      runs.push({ key, at: clock.now() });
      if (key === 'flaky' && failNext-- > 0) throw new Error('409');
    },
    onError: (key, _error, retryInMs) => errors.push([key, retryInMs]),
  });
  queue.add('flaky');
  queue.add('fine');
  await settle();
  t.same(runs, [{ key: 'flaky', at: 0 }, { key: 'fine', at: 0 }], 'a failing key does not hold up the others');
  await clock.advance(1000);
  await clock.advance(2000);
  t.same(runs.map((r) => [r.key, r.at]), [['flaky', 0], ['fine', 0], ['flaky', 1000], ['flaky', 3000]], 'retried after 1 s, then 2 s');
  t.same(errors, [['flaky', 1000], ['flaky', 2000]]);
  failNext = 1;
  queue.add('flaky');
  await settle();
  await clock.advance(1000);
  t.same(runs.slice(4).map((r) => r.at), [3000, 4000], 'after a success the backoff starts again at 1 s');
  t.equal(clock.pendingTimers(), 0, 'no retry left behind');
});

t.test('a retry due while the key is also added runs it once', async (t) => {
  const clock = new FakeClock();
  let runs = 0;
  let fail = true;
  const queue = new WorkQueue<string>({
    workers: 1,
    clock,
    backoffMs: () => 500,
    process: async () => {
      runs++;
      if (fail) {
        fail = false;
        throw new Error('boom');
      }
    },
  });
  queue.add('k');
  await settle();
  queue.add('k');
  await settle();
  t.equal(runs, 2, 'added again after the failure: runs at once');
  await clock.advance(500);
  t.equal(runs, 3, 'the retry still comes (level-triggered: an extra reconcile is harmless)');
  await queue.idle();
});

t.test('shutDown drops waiting keys and retries, and waits for keys in progress', async (t) => {
  const clock = new FakeClock();
  const work = manual();
  const queue = new WorkQueue<string>({ workers: 1, process: work.process, backoffMs: () => 1000, clock });
  queue.add('a');
  queue.add('b');
  queue.addAfter('c', 5000);
  await settle();
  let done = false;
  const stopped = queue.shutDown().then(() => (done = true));
  await settle();
  t.notOk(done, 'waits for the key in progress');
  work.calls[0]?.finish();
  await stopped;
  t.same(work.calls.map((c) => c.key), ['a'], 'b was dropped');
  await clock.advance(10_000);
  queue.add('d');
  await settle();
  t.equal(work.calls.length, 1, 'no retry, no new key after shutDown');
  t.equal(clock.pendingTimers(), 0);
});

t.test('rejects a worker count that is not a positive integer', async (t) => {
  const clock = new FakeClock();
  for (const workers of [0, -1, 1.5, Number.NaN]) {
    t.throws(() => new WorkQueue<string>({ workers, process: async () => {}, backoffMs: () => 0, clock }), RangeError);
  }
});
