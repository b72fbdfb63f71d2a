import t from 'tap';
import { FakeClock } from '../helpers/fake-clock.js';
import {
  alloyConfigHash,
  alloyConfigHashes,
  classifyAlloyReload,
  classifyReloadAnswer,
  SidecarReloader,
  type HttpReply,
  type ReloadResult,
  type ReloadTarget,
} from '../../src/reconciler/sidecar-reload.js';

// The reload loop against a fake clock and scripted sidecars (promtail and
// Alloy, their answers as the real ones give them): no sleeps, no network.

const NEW_CONFIG = 'logging {\n  level = "warn"\n}\n';
const target = (name: string, agent: ReloadTarget['agent'] = 'promtail'): ReloadTarget => ({
  key: `ns/${name}/uid-${name}`,
  namespace: 'ns',
  pod: name,
  agent,
  base: `http://${name}.pod:9080`,
  configHash: alloyConfigHash(NEW_CONFIG),
});
const UNCHANGED = { status: 500, body: 'failed to reload config: config has not changed\n' };
const RELOADED = { status: 200, body: '' };
const GET_UNUSED = async (url: string): Promise<HttpReply> => {
  throw new Error(`unexpected GET ${url}`);
};

function setup(script: (url: string, call: number) => HttpReply, metrics: (url: string, call: number) => HttpReply = () => ({ status: 404, body: '' })) {
  const clock = new FakeClock();
  const calls: { url: string; at: number }[] = [];
  const gets: { url: string; at: number }[] = [];
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
    get: async (url) => {
      gets.push({ url, at: clock.now() });
      return metrics(url, gets.filter((c) => c.url === url).length);
    },
    onResult: (t, result, detail) => results.push({ pod: t.pod, result, detail, at: clock.now() }),
  });
  return { clock, calls, gets, results, reloader };
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
  t.same(calls.map((c) => c.url), Array(4).fill('http://a.pod:9080/reload'), 'POST /reload on the metrics port');
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
    url.startsWith('http://bad.') ? { status: 500, body: 'failed to reload config: error validating config: x' } : { status: 404, body: '404 page not found' },
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
    get: GET_UNUSED,
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
    get: GET_UNUSED,
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
  t.same(calls.map((c) => c.url), ['http://b.pod:9080/reload']);
  reloader.request([target('d')]);
  await clock.advance(5000);
  t.same(results.map((r) => r.pod), ['b', 'd'], 'a new leader term asks again');
});

// ---------------------------------------------------------------- Alloy

/** /metrics as Alloy v1.19.2 serves it (trimmed), running the file whose SHA-256 is `hash`. */
const alloyMetrics = (hash: string, loaded = 1) =>
  [
    '# HELP alloy_build_info A metric with a constant \'1\' value labeled by version.',
    '# TYPE alloy_build_info gauge',
    'alloy_build_info{branch="",goarch="amd64",goos="linux",goversion="go1.26.8",revision="becfd48",tags="netgo,gore2regex",version="v1.19.2"} 1',
    '# HELP alloy_config_hash Hash of the currently active config file.',
    '# TYPE alloy_config_hash gauge',
    `alloy_config_hash{cluster_name="",sha256="${hash}"} 1`,
    '# HELP alloy_config_last_load_successful Config loaded successfully.',
    '# TYPE alloy_config_last_load_successful gauge',
    `alloy_config_last_load_successful ${loaded}`,
    '',
  ].join('\n');
const OLD_HASH = alloyConfigHash('logging {\n  level = "info"\n}\n');
const RELOAD_200 = { status: 200, body: 'config reloaded\n' };

t.test('alloyConfigHash is the hash Alloy exports for a one-file config: SHA-256 of its bytes', async (t) => {
  // Alloy v1.19.2 ran `alloy run small.alloy` on exactly NEW_CONFIG and served this line on /metrics.
  const real = 'alloy_config_hash{cluster_name="",sha256="dbdad9fed46520046081bf70f0a14a7d3bdb985edc15c86c4fc7e001e9e251c3"} 1\n';
  t.same(alloyConfigHashes(real), [alloyConfigHash(NEW_CONFIG)]);
  t.match(alloyConfigHash('é'), /^[0-9a-f]{64}$/, 'lower-case hex, as Alloy prints it (%x)');
  t.not(alloyConfigHash('é'), alloyConfigHash('e\u0301'), 'the bytes, not a normalised text');
});

t.test('alloyConfigHashes reads the loaded hash whatever the label order, and nothing else', async (t) => {
  const hash = alloyConfigHash(NEW_CONFIG);
  t.same(alloyConfigHashes(alloyMetrics(hash)), [hash]);
  t.same(alloyConfigHashes(`alloy_config_hash{sha256="${hash}",cluster_name="a"} 1\n`), [hash], 'labels in another order');
  t.same(alloyConfigHashes(`alloy_config_hash{sha256="${hash}"} 1.0\n`), [hash]);
  t.same(alloyConfigHashes(`alloy_config_hash{sha256="${hash}"} 0\n`), [], 'not the active one');
  t.same(alloyConfigHashes(`# alloy_config_hash{sha256="${hash}"} 1\n`), [], 'a comment');
  t.same(alloyConfigHashes(`alloy_config_hash_other{sha256="${hash}"} 1\n`), [], 'another metric');
  t.same(alloyConfigHashes(`alloy_config_hash{xsha256="${hash}"} 1\n`), [], 'another label');
  t.same(alloyConfigHashes('alloy_config_hash{sha256="0000"} 1\n'), [], 'not a SHA-256');
  t.same(alloyConfigHashes(''), []);
});

t.test('classifyAlloyReload: a 200 proves nothing, the hash decides', async (t) => {
  const hash = alloyConfigHash(NEW_CONFIG);
  const metrics = (h: string): HttpReply => ({ status: 200, body: alloyMetrics(h) });
  t.equal(classifyAlloyReload(RELOAD_200, metrics(hash), hash), 'reloaded', 'runs the new file');
  t.equal(classifyAlloyReload(RELOAD_200, metrics(OLD_HASH), hash), 'unchanged', 'reloaded the old file: the kubelet has not rewritten it yet');
  t.equal(classifyAlloyReload({ status: 400, body: 'reading config path "/etc/promtail/config.alloy": 26:1: expected }, got EOF\n' }, undefined, hash), 'invalid', 'Alloy refuses the new file and keeps the old');
  t.equal(classifyAlloyReload({ status: 404, body: '404 page not found' }, undefined, hash), 'unsupported');
  t.equal(classifyAlloyReload({ status: 405, body: '' }, undefined, hash), 'unsupported');
  t.equal(classifyAlloyReload({ status: undefined, body: 'ECONNREFUSED' }, undefined, hash), 'unreachable');
  t.equal(classifyAlloyReload({ status: 503, body: '' }, undefined, hash), 'unreachable');
  t.equal(classifyAlloyReload({ status: 101, body: '' }, undefined, hash), 'unreachable');
  t.equal(classifyAlloyReload(RELOAD_200, undefined, hash), 'unreachable', 'no /metrics asked');
  t.equal(classifyAlloyReload(RELOAD_200, { status: undefined, body: 'ETIMEDOUT' }, hash), 'unreachable', '/metrics did not answer');
  t.equal(classifyAlloyReload(RELOAD_200, { status: 500, body: '' }, hash), 'unreachable');
  t.equal(classifyAlloyReload(RELOAD_200, { status: 200, body: 'up 1\n' }, hash), 'unchanged', 'no hash on the page: not confirmed');
});

t.test('an alloy sidecar: POST /-/reload, then GET /metrics, with backoff until the hash is the new file\'s', async (t) => {
  const hash = alloyConfigHash(NEW_CONFIG);
  // The kubelet rewrites the file between the third and the fourth ask.
  const { clock, calls, gets, results, reloader } = setup(
    () => RELOAD_200,
    (_, call) => ({ status: 200, body: alloyMetrics(call < 4 ? OLD_HASH : hash) }),
  );
  reloader.request([target('a', 'alloy')]);
  await clock.advance(60_000);
  t.same(calls.map((c) => [c.url, c.at]), [1000, 3000, 7000, 15000].map((at) => ['http://a.pod:9080/-/reload', at]), 'the same backoff as promtail');
  t.same(gets.map((c) => [c.url, c.at]), [1000, 3000, 7000, 15000].map((at) => ['http://a.pod:9080/metrics', at]), 'each 200 confirmed on /metrics');
  t.same(results.map((r) => [r.pod, r.result, r.at, r.detail]), [['a', 'reloaded', 15000, '200 config reloaded']]);
  t.equal(clock.pendingTimers(), 0);
});

t.test('an alloy sidecar that keeps the old file times out, saying which hash it runs', async (t) => {
  const { clock, results, reloader } = setup(() => RELOAD_200, () => ({ status: 200, body: alloyMetrics(OLD_HASH) }));
  reloader.request([target('a', 'alloy')]);
  await clock.advance(120_000);
  t.same(results.map((r) => [r.result, r.at]), [['timeout', 63000]]);
  t.equal(results[0]?.detail, `200 config reloaded; alloy_config_hash ${OLD_HASH}, the new config's ${alloyConfigHash(NEW_CONFIG)}`);
});

t.test('an alloy sidecar that refuses the new file ends at once as invalid, without asking /metrics', async (t) => {
  const { clock, gets, results, reloader } = setup(() => ({ status: 400, body: 'reading config path "/etc/promtail/config.alloy": /etc/promtail/config.alloy:26:1: expected }, got EOF\n' }));
  reloader.request([target('a', 'alloy')]);
  await clock.advance(5000);
  t.same(results.map((r) => [r.result, r.at]), [['invalid', 1000]]);
  t.match(results[0]?.detail, /^400 reading config path .*expected \}, got EOF$/);
  t.same(gets, [], 'the hash would name the refused file too (alloy_config_last_load_successful 0): not asked');
});

t.test('an alloy sidecar whose /metrics fails is asked again; a mixed namespace is asked each its own way', async (t) => {
  const hash = alloyConfigHash(NEW_CONFIG);
  const { clock, calls, results, reloader } = setup(
    (url) => (url.endsWith('/reload') && !url.endsWith('/-/reload') ? RELOADED : RELOAD_200),
    (_, call) => (call === 1 ? { status: undefined, body: 'ECONNRESET' } : call === 2 ? { status: 200, body: 'no hash here\n' } : { status: 200, body: alloyMetrics(hash) }),
  );
  reloader.request([target('a', 'alloy'), target('p')]);
  await clock.advance(30_000);
  t.same(results.map((r) => [r.pod, r.result, r.at]), [['p', 'reloaded', 1000], ['a', 'reloaded', 7000]]);
  t.same(new Set(calls.map((c) => c.url)), new Set(['http://a.pod:9080/-/reload', 'http://p.pod:9080/reload']));
});
