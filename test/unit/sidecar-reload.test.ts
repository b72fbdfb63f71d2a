import t from 'tap';
import { FakeClock } from '../helpers/fake-clock.js';
import { classifyReloadAnswer, SidecarReloader, type ReloadResult, type ReloadTarget } from '../../src/reconciler/sidecar-reload.js';

// The reload loop against a fake clock and a scripted promtail: no sleeps, no network.

const target = (name: string): ReloadTarget => ({ key: `ns/${name}/uid-${name}`, namespace: 'ns', pod: name, url: `http://10.0.0.1:9080/reload#${name}` });
const UNCHANGED = { status: 500, body: 'failed to reload config: config has not changed\n' };
const RELOADED = { status: 200, body: '' };

function setup(script: (url: string, call: number) => { status: number | undefined; body: string }) {
  const clock = new FakeClock();
  const calls: { url: string; at: number }[] = [];
  const results: { pod: string; result: ReloadResult; detail: string; at: number }[] = [];
  const reloader = new SidecarReloader({
    clock,
    windowMs: 60_000,
    firstDelayMs: 1000,
    maxDelayMs: 8000,
    post: async (url) => {
      calls.push({ url, at: clock.now() });
      return script(url, calls.filter((c) => c.url === url).length);
    },
    onResult: (t, result, detail) => results.push({ pod: t.pod, result, detail, at: clock.now() }),
  });
  return { clock, calls, results, reloader };
}

t.test('classifyReloadAnswer reads promtail 3.6 answers', async (t) => {
  t.equal(classifyReloadAnswer(200, ''), 'reloaded');
  t.equal(classifyReloadAnswer(500, UNCHANGED.body), 'unchanged');
  t.equal(classifyReloadAnswer(500, 'failed to reload config: error validating config: ...'), 'invalid');
  t.equal(classifyReloadAnswer(404, '404 page not found'), 'unsupported', 'no -server.enable-runtime-reload');
  t.equal(classifyReloadAnswer(undefined, 'ECONNREFUSED'), 'unreachable');
  t.equal(classifyReloadAnswer(503, ''), 'unreachable');
});

t.test('asks with backoff until promtail reports the new config, then stops', async (t) => {
  const { clock, calls, results, reloader } = setup((_, call) => (call < 4 ? UNCHANGED : RELOADED));
  reloader.request([target('a')]);
  t.equal(calls.length, 0, 'not at once: the kubelet has not rewritten the file yet');
  await clock.advance(60_000);
  t.same(calls.map((c) => c.at), [1000, 3000, 7000, 15000], 'delays 1 s, 2 s, 4 s, 8 s (capped)');
  t.same(results, [{ pod: 'a', result: 'reloaded', detail: '200', at: 15000 }]);
  t.equal(reloader.pendingCount(), 0);
  t.equal(clock.pendingTimers(), 0, 'nothing left scheduled');
});

t.test('gives up with timeout when the window passes with the old config', async (t) => {
  const { clock, calls, results, reloader } = setup(() => UNCHANGED);
  reloader.request([target('a')]);
  await clock.advance(120_000);
  t.same(results.map((r) => [r.result, r.at]), [['timeout', 63000]], 'the first answer after the 60 s window ends it');
  t.same(calls.map((c) => c.at), [1000, 3000, 7000, 15000, 23000, 31000, 39000, 47000, 55000, 63000]);
  t.equal(clock.pendingTimers(), 0);
});

t.test('an invalid config or an old sidecar ends it at once, with the reason', async (t) => {
  const { clock, results, reloader } = setup((url) =>
    url.endsWith('#bad') ? { status: 500, body: 'failed to reload config: error validating config: x' } : { status: 404, body: '404 page not found' },
  );
  reloader.request([target('bad'), target('old')]);
  await clock.advance(5000);
  t.same(results.map((r) => [r.pod, r.result, r.at]), [['bad', 'invalid', 1000], ['old', 'unsupported', 1000]]);
  t.match(results[0]?.detail, /error validating config/);
});

t.test('an unreachable sidecar (restarting) is asked again within the window', async (t) => {
  const { clock, results, reloader } = setup((_, call) => (call === 1 ? { status: undefined, body: 'ECONNREFUSED' } : RELOADED));
  reloader.request([target('a')]);
  await clock.advance(10_000);
  t.same(results.map((r) => [r.result, r.at]), [['reloaded', 3000]]);
});

t.test('a post that throws counts as unreachable, not as a crash', async (t) => {
  const clock = new FakeClock();
  const results: ReloadResult[] = [];
  let call = 0;
  const reloader = new SidecarReloader({
    clock,
    windowMs: 2500,
    post: async () => {
      call++;
      throw new Error('boom');
    },
    onResult: (_, result) => results.push(result),
  });
  reloader.request([target('a')]);
  await clock.advance(20_000);
  t.same(results, ['timeout']);
  t.equal(call, 2);
});

t.test('a second change restarts the window; a change during a request asks again after it', async (t) => {
  let release: (() => void) | undefined;
  const clock = new FakeClock();
  const results: ReloadResult[] = [];
  const calls: number[] = [];
  const reloader = new SidecarReloader({
    clock,
    windowMs: 10_000,
    post: async () => {
      calls.push(clock.now());
      if (calls.length === 1) {
        // The first request hangs until the test lets it answer.
        await new Promise<void>((resolve) => (release = resolve));
        return RELOADED;
      }
      return RELOADED;
    },
    onResult: (_, result) => results.push(result),
  });
  reloader.request([target('a')]);
  await clock.advance(1000);
  t.same(calls, [1000], 'first request out');
  reloader.request([target('a')]);
  release?.();
  for (let i = 0; i < 10; i++) await Promise.resolve();
  t.same(results, [], 'the answer to the first ask does not end it: the file may have changed again');
  await clock.advance(1000);
  t.same(calls, [1000, 2000]);
  t.same(results, ['reloaded']);
});

t.test('forget and stop cancel what is pending; request works after stop', async (t) => {
  const { clock, calls, results, reloader } = setup(() => RELOADED);
  reloader.request([target('a'), target('b')]);
  reloader.forget('ns/a/uid-a');
  reloader.forget('ns/unknown/x');
  await clock.advance(5000);
  t.same(results.map((r) => r.pod), ['b'], 'the deleted pod is not asked');
  reloader.request([target('c')]);
  reloader.stop();
  t.equal(clock.pendingTimers(), 0);
  await clock.advance(5000);
  t.same(calls.map((c) => c.url), ['http://10.0.0.1:9080/reload#b']);
  reloader.request([target('d')]);
  await clock.advance(5000);
  t.same(results.map((r) => r.pod), ['b', 'd'], 'a new leader term asks again');
});
