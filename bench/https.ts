// Over-the-wire benchmark: POST /mutate of the real app against a bare Fastify
// HTTPS route that only parses the same JSON body (and, as a third target, the
// real app sending /mutate's answer without injecting: https-shared.ts), each in a child process,
// driven from here with N keep-alive connections and exactly N requests in flight.
// Run: npx tsx bench/https.ts
// Env: BENCH_CONNECTIONS (32), BENCH_SECONDS per target (8), BENCH_WARMUP_SECONDS (1),
//      BENCH_MAX_REQUESTS per target (1000000), BENCH_SERVER_NODE_FLAGS (node flags for all
//      servers, space-separated; default: the image ENTRYPOINT's),
//      BENCH_DISTINCT (0; 1: every request's pod differs, see below).
// The same review every time is a Deployment's rollout: /mutate answers every
// pod after the first from its answer memo (src/admission/answer-memo.ts).
// BENCH_DISTINCT=1 adds a label `bench-n: <counter>` to each request's pod,
// so the memo never finds one: the cost of pods seen for the first time, the
// memo's included (it soon keys only one review in 16, as it does while few
// are found). All three targets get the same bodies.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeCertificates } from '../src/certs.js';
import { imageEnv, nodeFlagsFrom } from './image-runtime.js';
import { TARGET_PATHS, TARGETS, type ChildMessage, type ParentMessage, type Target } from './https-shared.js';
import { RECIPE_PATH, recipeBody } from './reviews.js';
import { envNumber, fmt, machineBusyCores, machineCpu, mean, median, percentile, round, table } from './stats.js';

const CONNECTIONS = envNumber('BENCH_CONNECTIONS', 32, { max: 1024 });
const SECONDS = envNumber('BENCH_SECONDS', 8, { max: 60 });
const WARMUP_SECONDS = envNumber('BENCH_WARMUP_SECONDS', 1, { max: 30 });
const ROUNDS = envNumber('BENCH_ROUNDS', 8, { min: 1, max: 100 });
const MAX_REQUESTS = envNumber('BENCH_MAX_REQUESTS', 1_000_000);
const DISTINCT = envFlag('BENCH_DISTINCT');
const REQUEST_TIMEOUT_MS = 10_000;
// Both servers run with the image's node flags and environment (bench/image-runtime.ts), as the webhook ships.
const SERVER_NODE_FLAGS = nodeFlagsFrom(process.env.BENCH_SERVER_NODE_FLAGS);
const HOST = '127.0.0.1';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SERVER_FILE = fileURLToPath(new URL('./https-server.ts', import.meta.url));

// ---- cleanup: no stray server processes, no left-over key material ----------

const children = new Set<ChildProcess>();
let certDir: string | undefined;

function cleanup(): void {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  children.clear();
  if (certDir !== undefined) rmSync(certDir, { recursive: true, force: true });
  certDir = undefined;
}
process.on('exit', cleanup);
process.once('SIGINT', () => process.exit(130));
process.once('SIGTERM', () => process.exit(143));
// A hard ceiling on the whole run, whatever happens to the servers.
const budgetSeconds = TARGETS.length * (WARMUP_SECONDS + SECONDS + 10 * ROUNDS + 30) + 30;
setTimeout(() => {
  console.error(`bench/https.ts: gave up after ${budgetSeconds} s`);
  process.exit(2);
}, budgetSeconds * 1000).unref();

// ---- the server process -----------------------------------------------------

interface Server {
  child: ChildProcess;
  port: number;
  exited: Promise<void>;
  usage(): Promise<number>;
  stop(): Promise<void>;
}

function nextMessage<T extends ChildMessage['type']>(child: ChildProcess, type: T, timeoutMs: number): Promise<Extract<ChildMessage, { type: T }>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`server sent no "${type}" within ${timeoutMs} ms`)), timeoutMs);
    const onMessage = (message: ChildMessage) => {
      if (message.type === type) done(undefined, message as Extract<ChildMessage, { type: T }>);
    };
    const onExit = (code: number | null, signal: string | null) => done(new Error(`server exited (code ${code}, signal ${signal}) before "${type}"`));
    function done(error?: Error, message?: Extract<ChildMessage, { type: T }>) {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      if (error) reject(error);
      else resolve(message as Extract<ChildMessage, { type: T }>);
    }
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

async function startServer(target: Target, dir: string): Promise<Server> {
  // `node --import tsx` keeps the server a plain node process (no tsx CLI wrapper in between).
  // BENCH_PROFILE_DIR: each server writes a V8 CPU profile there when it exits (to see where its time goes).
  const profile = process.env.BENCH_PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${join(process.env.BENCH_PROFILE_DIR, target)}`] : [];
  const child = spawn(process.execPath, [...SERVER_NODE_FLAGS, ...profile, '--import', 'tsx', SERVER_FILE, target, dir], {
    cwd: ROOT,
    env: { ...process.env, ...imageEnv() },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  children.add(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  void exited.then(() => children.delete(child));
  const ready = await nextMessage(child, 'ready', 30_000);
  const send = (message: ParentMessage) => child.send(message);
  return {
    child,
    port: ready.port,
    exited,
    async usage() {
      const reply = nextMessage(child, 'usage', 5_000);
      send({ type: 'usage' });
      return (await reply).cpuMicros;
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      if (child.connected) send({ type: 'stop' });
      const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

// ---- the load generator -----------------------------------------------------

function envFlag(name: string): boolean {
  const raw = process.env[name] ?? '';
  if (raw !== '' && raw !== '0' && raw !== '1') throw new Error(`${name}=${JSON.stringify(raw)}: expected 0 or 1`);
  return raw === '1';
}

/** The request bodies: the review as is every time, or (BENCH_DISTINCT) with a label `bench-n: <counter>` first in its pod's labels. */
function bodySource(text: string): () => Buffer {
  if (!DISTINCT) {
    const same = Buffer.from(text);
    return () => same;
  }
  const labels = '"labels": {';
  const at = text.indexOf(labels);
  if (at === -1 || text.indexOf(labels, at + 1) !== -1) throw new Error(`BENCH_DISTINCT: the review needs exactly one ${labels}`);
  const cut = at + labels.length;
  const head = Buffer.from(`${text.slice(0, cut)} "bench-n": "`);
  const tail = Buffer.from(`",${text.slice(cut)}`);
  let n = 0;
  return () => Buffer.concat([head, Buffer.from(String(n++)), tail]);
}

interface Reply {
  status: number;
  body: Buffer | undefined;
}

function post(agent: https.Agent, port: number, path: string, body: Buffer, keepBody: boolean): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const request = https.request(
      {
        agent,
        host: HOST,
        port,
        path,
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': body.length },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => {
          if (keepBody) chunks.push(chunk);
        });
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: keepBody ? Buffer.concat(chunks) : undefined }));
        response.on('error', reject);
      },
    );
    request.setTimeout(REQUEST_TIMEOUT_MS, () => request.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)));
    request.on('error', reject);
    request.end(body);
  });
}

interface LoadResult {
  requests: number;
  errors: number;
  firstErrors: string[];
  latenciesMs: Float64Array;
  elapsedSeconds: number;
  clientCpuMicros: number;
}

/** N workers, each with one request in flight at a time, until the deadline or the request cap. */
async function load(agent: https.Agent, server: Server, path: string, body: () => Buffer, seconds: number): Promise<LoadResult> {
  const latencies: number[] = [];
  const firstErrors: string[] = [];
  let errors = 0;
  let started = 0;
  let serverGone = false;
  void server.exited.then(() => (serverGone = true));
  const noteError = (message: string) => {
    errors++;
    if (firstErrors.length < 3) firstErrors.push(message);
  };

  const cpuBefore = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const deadline = t0 + BigInt(Math.round(seconds * 1e9));
  const worker = async () => {
    while (!serverGone && started < MAX_REQUESTS && process.hrtime.bigint() < deadline) {
      started++;
      const sent = process.hrtime.bigint();
      try {
        const reply = await post(agent, server.port, path, body(), false);
        if (reply.status === 200) latencies.push(Number(process.hrtime.bigint() - sent) / 1e6);
        else noteError(`HTTP ${reply.status}`);
      } catch (error) {
        noteError((error as Error).message);
      }
    }
  };
  await Promise.all(Array.from({ length: CONNECTIONS }, worker));
  const elapsedSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpuBefore);
  if (serverGone) throw new Error(`the server process exited during the run (${firstErrors.join('; ')})`);
  return {
    requests: started,
    errors,
    firstErrors,
    latenciesMs: Float64Array.from(latencies).sort(),
    elapsedSeconds,
    clientCpuMicros: cpu.user + cpu.system,
  };
}

/** The first answer must be the real thing, or the run would measure an error path. */
async function checkFirstAnswer(target: Target, agent: https.Agent, port: number, body: () => Buffer, uid: string): Promise<string> {
  const reply = await post(agent, port, TARGET_PATHS[target], body(), true);
  const text = reply.body?.toString('utf8') ?? '';
  if (reply.status !== 200) throw new Error(`${target}: HTTP ${reply.status}: ${text.slice(0, 300)}`);
  const answer = JSON.parse(text) as { response?: { uid?: string; allowed?: boolean; patchType?: string; patch?: string } };
  if (answer.response?.allowed !== true) throw new Error(`${target}: not allowed: ${text.slice(0, 300)}`);
  if (target === 'bare') return 'allowed';
  const { patchType, patch } = answer.response;
  if (answer.response.uid !== uid) throw new Error(`${target}: answer uid ${answer.response.uid} is not the request's ${uid}`);
  if (patchType !== 'JSONPatch' || patch === undefined) throw new Error(`${target}: allowed without a patch: ${text.slice(0, 300)}`);
  const ops = JSON.parse(Buffer.from(patch, 'base64').toString('utf8')) as { op: string; path: string; value?: { name?: string } }[];
  if (!ops.some((op) => op.op === 'add' && op.path.startsWith('/spec/containers/') && op.value?.name === 'promtail')) {
    throw new Error(`${target}: the patch adds no promtail container: ${JSON.stringify(ops).slice(0, 300)}`);
  }
  return `allowed, ${ops.length} patch ops`;
}

interface TargetResult {
  target: Target;
  path: string;
  check: string;
  requests: number;
  ok: number;
  errors: number;
  firstErrors: string[];
  reqPerSecond: number;
  meanMs: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  serverCpuPct: number;
  /** Server process CPU time per answered request. */
  serverCpuUsPerRequest: number;
  clientCpuPct: number;
  /** Busy CPU of everything else on the machine during the window, % of one core. */
  otherCpuPct: number;
}

/** One measured window on one server: what its process and the load generator spent. */
interface Window {
  ok: number;
  requests: number;
  errors: number;
  firstErrors: string[];
  latenciesMs: Float64Array;
  elapsedSeconds: number;
  serverCpuMicros: number;
  clientCpuMicros: number;
  machineBusyMicros: number;
}

interface Running {
  target: Target;
  path: string;
  server: Server;
  agent: https.Agent;
  check: string;
  windows: Window[];
}

async function measure(running: Running, body: () => Buffer, seconds: number): Promise<Window> {
  const cpuBefore = await running.server.usage();
  const machineBefore = machineCpu();
  const run = await load(running.agent, running.server, running.path, body, seconds);
  const machineAfter = machineCpu();
  const serverCpuMicros = (await running.server.usage()) - cpuBefore;
  return {
    ok: run.latenciesMs.length,
    requests: run.requests,
    errors: run.errors,
    firstErrors: run.firstErrors,
    latenciesMs: run.latenciesMs,
    elapsedSeconds: run.elapsedSeconds,
    serverCpuMicros,
    clientCpuMicros: run.clientCpuMicros,
    machineBusyMicros: machineBusyCores(machineBefore, machineAfter) * run.elapsedSeconds * 1e6,
  };
}

function summarize(running: Running): TargetResult {
  const { windows } = running;
  const sum = (pick: (w: Window) => number) => windows.reduce((total, w) => total + pick(w), 0);
  const ok = sum((w) => w.ok);
  const elapsedSeconds = sum((w) => w.elapsedSeconds);
  const serverCpuMicros = sum((w) => w.serverCpuMicros);
  const clientCpuMicros = sum((w) => w.clientCpuMicros);
  const latencies = Float64Array.from(windows.flatMap((w) => Array.from(w.latenciesMs))).sort();
  const serverCpuPct = (serverCpuMicros / 1e6 / elapsedSeconds) * 100;
  const clientCpuPct = (clientCpuMicros / 1e6 / elapsedSeconds) * 100;
  return {
    target: running.target,
    path: running.path,
    check: running.check,
    requests: sum((w) => w.requests),
    ok,
    errors: sum((w) => w.errors),
    firstErrors: windows.flatMap((w) => w.firstErrors).slice(0, 3),
    reqPerSecond: ok / elapsedSeconds,
    meanMs: mean(latencies),
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    maxMs: percentile(latencies, 100),
    serverCpuPct,
    serverCpuUsPerRequest: ok === 0 ? Number.NaN : serverCpuMicros / ok,
    clientCpuPct,
    otherCpuPct: Math.max(0, (sum((w) => w.machineBusyMicros) / 1e6 / elapsedSeconds) * 100 - serverCpuPct - clientCpuPct),
  };
}

/** Server CPU per answered request in each round, mutate's over bare's (and floor's over bare's). */
function roundRatios(byTarget: Record<Target, Running>, numerator: Target): number[] {
  const perRequest = (w: Window) => w.serverCpuMicros / w.ok;
  return byTarget[numerator].windows.map((w, i) => perRequest(w) / perRequest(byTarget.bare.windows[i]!));
}

async function main(): Promise<void> {
  const wallStart = Date.now();
  const loadAtStart = loadavg();
  const bundle = makeCertificates({ commonName: 'localhost', dnsNames: ['localhost'], ipAddresses: [HOST], validDays: 1 });
  certDir = mkdtempSync(join(tmpdir(), 'sre-quero-bench-'));
  writeFileSync(join(certDir, 'tls.crt'), bundle.cert);
  writeFileSync(join(certDir, 'tls.key'), bundle.key, { mode: 0o600 });

  const text = recipeBody();
  const body = bodySource(text);
  const bodyBytes = Buffer.byteLength(text);
  const uid = (JSON.parse(text) as { request: { uid: string } }).request.uid;

  // All servers up at once, measured in turns: ROUNDS short windows per
  // target, the order rotated each round, so a slow minute of this shared
  // machine (another VM, a CPU clock change) falls on every target alike
  // instead of on whichever ran then. One target at a time, so its server
  // has a core to itself and the load generator the other.
  const running: Running[] = [];
  try {
    for (const target of TARGETS) {
      const server = await startServer(target, certDir);
      const agent = new https.Agent({ keepAlive: true, maxSockets: CONNECTIONS, ca: bundle.caCert });
      running.push({ target, path: TARGET_PATHS[target], server, agent, check: '', windows: [] });
    }
    for (const r of running) {
      r.check = await checkFirstAnswer(r.target, r.agent, r.server.port, body, uid);
      await load(r.agent, r.server, r.path, body, WARMUP_SECONDS);
    }
    for (let round = 0; round < ROUNDS; round++) {
      for (let i = 0; i < running.length; i++) {
        const r = running[(round + i) % running.length]!;
        r.windows.push(await measure(r, body, SECONDS / ROUNDS));
      }
    }
  } finally {
    for (const r of running) r.agent.destroy();
    await Promise.all(running.map((r) => r.server.stop()));
  }
  const results = running.map(summarize);
  const runningByTarget = Object.fromEntries(running.map((r) => [r.target, r])) as Record<Target, Running>;
  const mutateRounds = roundRatios(runningByTarget, 'mutate');
  const floorRounds = roundRatios(runningByTarget, 'floor');

  const byTarget = Object.fromEntries(results.map((r) => [r.target, r])) as Record<Target, TargetResult>;
  const ratio = {
    throughput: byTarget.mutate.reqPerSecond / byTarget.bare.reqPerSecond,
    p50: byTarget.mutate.p50Ms / byTarget.bare.p50Ms,
    p99: byTarget.mutate.p99Ms / byTarget.bare.p99Ms,
    serverCpuPerRequest: byTarget.mutate.serverCpuUsPerRequest / byTarget.bare.serverCpuUsPerRequest,
    floorServerCpuPerRequest: byTarget.floor.serverCpuUsPerRequest / byTarget.bare.serverCpuUsPerRequest,
  };

  console.log(
    `HTTPS keep-alive, ${CONNECTIONS} connections, ${CONNECTIONS} requests in flight, ${SECONDS} s per target in ${ROUNDS} turns after ${WARMUP_SECONDS} s warm-up; ` +
      `body ${RECIPE_PATH.slice(ROOT.length)} (${bodyBytes} B); server in a child process (node ${process.version})`,
  );
  console.log(
    DISTINCT
      ? '  BENCH_DISTINCT=1: every request a pod not seen before (label bench-n: <counter>): /mutate injects each one, its answer memo never finds one and keys one review in 16 (the miss case)'
      : '  the same review every request, as a Deployment rollout sends its pods: /mutate answers all but the first from its answer memo (the hit case; BENCH_DISTINCT=1 for the miss case)',
  );
  console.log(`  machine: ${cpus().length} CPUs, load average ${loadAtStart.map((l) => l.toFixed(2)).join(' ')} at start`);
  for (const r of results) console.log(`  first answer of ${r.path}: ${r.check}`);
  console.log();
  console.log(
    table([
      ['target', 'requests', 'req/s', 'mean ms', 'p50 ms', 'p99 ms', 'max ms', 'errors', 'server CPU', 'server µs/req', 'client CPU', 'other CPU'],
      ...results.map((r) => [
        `POST ${r.path}`,
        fmt(r.requests),
        fmt(r.reqPerSecond),
        fmt(r.meanMs, 2),
        fmt(r.p50Ms, 2),
        fmt(r.p99Ms, 2),
        fmt(r.maxMs, 1),
        fmt(r.errors),
        `${fmt(r.serverCpuPct)}%`,
        fmt(r.serverCpuUsPerRequest),
        `${fmt(r.clientCpuPct)}%`,
        `${fmt(r.otherCpuPct)}%`,
      ]),
    ]),
  );
  console.log();
  console.log(
    `mutate/bare: throughput ${ratio.throughput.toFixed(2)}x, p50 ${ratio.p50.toFixed(2)}x, p99 ${ratio.p99.toFixed(2)}x, ` +
      `server CPU per request ${ratio.serverCpuPerRequest.toFixed(2)}x`,
  );
  console.log(`  server CPU per request, turn by turn: median ${median(mutateRounds).toFixed(2)}x (${fmt(Math.min(...mutateRounds), 2)}-${fmt(Math.max(...mutateRounds), 2)})`);
  console.log(
    `floor/bare: server CPU per request ${ratio.floorServerCpuPerRequest.toFixed(2)}x (the app answering /mutate's bytes without injecting; ` +
      `the injection itself: ${fmt(byTarget.mutate.serverCpuUsPerRequest - byTarget.floor.serverCpuUsPerRequest)} µs per review)`,
  );
  const clientBound = results.filter((r) => r.clientCpuPct >= 90);
  if (clientBound.length > 0) {
    console.log(`  note: the load generator was near a full core during ${clientBound.map((r) => r.path).join(', ')}: that throughput is a floor, compare server µs/req`);
  }
  for (const r of results) if (r.errors > 0) console.log(`  ${r.path} errors, first ones: ${r.firstErrors.join('; ')}`);
  console.log(
    `(CPU = % of one core over the measured window; other = the rest of the machine, from /proc/stat; ${((Date.now() - wallStart) / 1000).toFixed(1)} s in all)`,
  );
  const noisy = results.filter((r) => r.otherCpuPct > 15);
  if (noisy.length > 0) console.log(`WARNING: other processes used CPU during ${noisy.map((r) => r.path).join(', ')}; the figures are not clean`);

  const json = {
    bench: 'https',
    node: process.version,
    connections: CONNECTIONS,
    secondsPerTarget: SECONDS,
    rounds: ROUNDS,
    warmupSeconds: WARMUP_SECONDS,
    bodyBytes,
    distinct: DISTINCT,
    targets: results.map((r) => ({
      target: r.target,
      path: r.path,
      requests: r.requests,
      ok: r.ok,
      errors: r.errors,
      reqPerSecond: round(r.reqPerSecond, 0),
      meanMs: round(r.meanMs, 3),
      p50Ms: round(r.p50Ms, 3),
      p99Ms: round(r.p99Ms, 3),
      maxMs: round(r.maxMs, 1),
      serverCpuPct: round(r.serverCpuPct, 0),
      serverCpuUsPerRequest: round(r.serverCpuUsPerRequest, 1),
      clientCpuPct: round(r.clientCpuPct, 0),
      otherCpuPct: round(r.otherCpuPct, 0),
    })),
    ratio: {
      throughput: round(ratio.throughput, 3),
      p50: round(ratio.p50, 3),
      p99: round(ratio.p99, 3),
      serverCpuPerRequest: round(ratio.serverCpuPerRequest, 3),
      floorServerCpuPerRequest: round(ratio.floorServerCpuPerRequest, 3),
      serverCpuPerRequestByRound: mutateRounds.map((x) => round(x, 3)),
      floorServerCpuPerRequestByRound: floorRounds.map((x) => round(x, 3)),
    },
  };
  console.log(`BENCH_JSON ${JSON.stringify(json)}`);
}

main().then(
  () => {
    cleanup();
    process.exit(0);
  },
  (error: unknown) => {
    console.error('bench/https.ts failed:', error);
    cleanup();
    process.exit(1);
  },
);
