import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import t, { type Test } from 'tap';
import { childEnv } from '../helpers/child-env.js';
import { makeCertificates } from '../../src/certs.js';
import { httpsPost } from '../helpers/https.js';
import { recipeReview, type Json } from '../helpers/reviews.js';

// `sre-quero serve` as a real process: flags, TLS files, logs, SIGTERM.
const bin = new URL('../../src/bin.ts', import.meta.url).pathname;

interface Served {
  child: ChildProcess;
  lines: Json[];
  url: string;
  exited: Promise<number | null>;
}

async function startServe(t: Test, args: string[], env: Record<string, string> = {}): Promise<Served> {
  const child = spawn(process.execPath, ['--import', 'tsx', bin, 'serve', ...args], {
    env: childEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  const lines: Json[] = [];
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let stderr = '';
  child.stderr?.on('data', (chunk) => (stderr += chunk));
  const address = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const entry = JSON.parse(line) as Json;
      lines.push(entry);
      if (entry.msg === 'sre-quero webhook serving') resolve(entry.address);
    });
    void exited.then((code) => reject(new Error(`serve exited with ${code}: ${stderr}`)));
  });
  return { child, lines, url: `${address}/mutate`, exited };
}

function writeCertificates(): { dir: string; ca: string } {
  const dir = mkdtempSync(join(tmpdir(), 'sq-serve-'));
  const bundle = makeCertificates({ commonName: 'localhost', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], validDays: 1 });
  writeFileSync(join(dir, 'tls.crt'), bundle.cert);
  writeFileSync(join(dir, 'tls.key'), bundle.key);
  return { dir, ca: bundle.caCert };
}

t.test('serve: flags and env configure it; SIGTERM lets an in-flight review finish', async (t) => {
  const { dir, ca } = writeCertificates();
  const served = await startServe(t, ['--listen', '127.0.0.1:0', '--tls-cert', join(dir, 'tls.crt')], {
    SRE_QUERO_TLS_KEY: join(dir, 'tls.key'),
    SRE_QUERO_SHUTDOWN_TIMEOUT_MS: '5000',
  });
  const review = recipeReview();
  const first = await httpsPost(served.url, ca, JSON.stringify(review));
  t.equal(first.status, 200);
  t.equal(JSON.parse(first.body).response.uid, review.request.uid);

  // Start a review, send only half the body, then SIGTERM: the review must still be answered.
  const body = Buffer.from(JSON.stringify(review));
  const inFlight = new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = request(served.url, { method: 'POST', ca, agent: false, headers: { 'content-type': 'application/json', 'content-length': body.length } }, (res) => {
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
  const cases: [string[], RegExp][] = [
    [['--listen', 'nowhere'], /SQ_CONFIG_INVALID: listen: listen must be host:port/],
    [['--tls-cert', '/nonexistent/tls.crt'], /SQ_CONFIG_INVALID: give both --tls-cert and --tls-key/],
    [['--tls-cert', '/nonexistent/tls.crt', '--tls-key', '/nonexistent/tls.key'], /SQ_TLS_INVALID: cannot read the serving certificate/],
    [['--settings', '/nonexistent/settings.yaml'], /SQ_SETTINGS_UNREADABLE: settings file \/nonexistent\/settings.yaml/],
    [['--bogus'], /Unknown option '--bogus'/],
  ];
  for (const [args, message] of cases) {
    const child = spawn(process.execPath, ['--import', 'tsx', bin, 'serve', ...args], { env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    t.equal(code, 2, `${args.join(' ')}: exit code`);
    t.match(stderr, message, `${args.join(' ')}: message`);
  }
});
