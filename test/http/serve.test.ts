import { spawn } from 'node:child_process';
import { request } from 'node:https';
import t, { type Test } from 'tap';
import { childEnv } from '../helpers/child-env.js';
import { httpsPost } from '../helpers/https.js';
import { recipeReview } from '../helpers/reviews.js';
import { startServerProcess, writeLocalhostCertificate } from '../helpers/server-process.js';

// `sre-quero serve` as a real process: flags, TLS files, logs, SIGTERM.
const bin = new URL('../../src/bin.ts', import.meta.url).pathname;

const startServe = (t: Test, args: string[], env: Record<string, string> = {}) =>
  startServerProcess(t, ['--import', 'tsx', bin, 'serve', '--log-level', 'debug', ...args], { env: childEnv(env) });

t.test('serve: flags and env configure it; SIGTERM lets an in-flight review finish', async (t) => {
  const { certFile, keyFile, caCert: ca } = writeLocalhostCertificate();
  const served = await startServe(t, ['--listen', '127.0.0.1:0', '--tls-cert', certFile], {
    SRE_QUERO_TLS_KEY: keyFile,
    SRE_QUERO_SHUTDOWN_TIMEOUT_MS: '5000',
  });
  const url = `${served.address}/mutate`;
  const review = recipeReview();
  const first = await httpsPost(url, ca, JSON.stringify(review));
  t.equal(first.status, 200);
  t.equal(JSON.parse(first.body).response.uid, review.request.uid);

  // Start a review, send only half the body, then SIGTERM: the review must still be answered.
  const body = Buffer.from(JSON.stringify(review));
  const inFlight = new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = request(url, { method: 'POST', ca, agent: false, headers: { 'content-type': 'application/json', 'content-length': body.length } }, (res) => {
      let text = '';
      res.on('data', (chunk) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.write(body.subarray(0, 100));
    setTimeout(() => {
      served.child.kill('SIGTERM');
      setTimeout(() => req.end(body.subarray(100)), 300);
    }, 200);
  });
  const answered = await inFlight;
  t.equal(answered.status, 200, 'in-flight review answered after SIGTERM');
  t.equal(JSON.parse(answered.text).response.patchType, 'JSONPatch');
  t.equal(await served.exited, 0, 'exits cleanly');
  t.ok(served.lines.some((line) => line.msg === 'shutting down' && line.signal === 'SIGTERM'));
  t.equal(served.lines.filter((line) => line.msg === 'admission review').length, 2, 'one log line per review');
});

t.test('serve: invalid configuration stops start-up with a coded error', async (t) => {
  const cases: [string[], RegExp, Record<string, string>?][] = [
    [['--listen', 'nowhere'], /SQ_CONFIG_INVALID: listen: listen must be host:port/],
    [['--kubeconfig', '/nonexistent/kubeconfig'], /^sre-quero: SQ_KUBECONFIG_INVALID: kubeconfig --kubeconfig \/nonexistent\/kubeconfig: cannot be read: no such file\n$/],
    [['--reconciler', 'on'], /^sre-quero: SQ_KUBECONFIG_INVALID: kubeconfig KUBECONFIG=\/a:\/b: it lists several files/, { KUBECONFIG: '/a:/b' }],
    [['--reconciler', 'on'], /^sre-quero: SQ_KUBECONFIG_INVALID: kubeconfig KUBECONFIG=\/nonexistent: cannot be read: no such file\n$/, { KUBECONFIG: '/nonexistent' }],
    [['--tls-cert', '/nonexistent/tls.crt'], /SQ_CONFIG_INVALID: give both --tls-cert and --tls-key/],
    [['--tls-cert', '/nonexistent/tls.crt', '--tls-key', '/nonexistent/tls.key'], /SQ_TLS_INVALID: cannot read the serving certificate/],
    [['--settings', '/nonexistent/settings.yaml'], /SQ_SETTINGS_UNREADABLE: settings file \/nonexistent\/settings.yaml/],
    [['--bogus'], /Unknown option '--bogus'/],
  ];
  for (const [args, message, env] of cases) {
    const child = spawn(process.execPath, ['--import', 'tsx', bin, 'serve', ...args], { env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    t.equal(code, 2, `${args.join(' ')}: exit code`);
    t.match(stderr, message, `${args.join(' ')}: message`);
  }
});
