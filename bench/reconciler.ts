// The reconciler at scale, against the real control plane (etcd + kube-apiserver
// of the pinned release from test/cluster, no controller-manager, no kubelet): 50 namespaces
// with 10 Services and 100 injected pods each (500 Services, 5,000 pods, created
// through the API; nothing runs), then `sre-quero serve --kubeconfig` in a child
// process. Measures start -> converged, one change -> reflected (a new Service;
// the pods of a Service deleted), the reconciler's API requests (its own
// counter) and its RSS, and that an idle reconciler makes no requests.
// Run: npx tsx bench/reconciler.ts
// Env: BENCH_NAMESPACES (50), BENCH_SERVICES_PER_NAMESPACE (10), BENCH_PODS_PER_SERVICE (10),
//      BENCH_CONCURRENCY (24, create requests in flight), BENCH_IDLE_SECONDS (10).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { ENABLE_HINT, findBinaries, K8S_VERSION, startControlPlane, type ControlPlane } from '../test/cluster/control-plane.js';
import { imageEnv, nodeFlagsFrom } from './image-runtime.js';
import { envNumber, fmt, percentile, round, table } from './stats.js';

const NAMESPACES = envNumber('BENCH_NAMESPACES', 50, { max: 500 });
const SERVICES_PER_NAMESPACE = envNumber('BENCH_SERVICES_PER_NAMESPACE', 10, { max: 100 });
const PODS_PER_SERVICE = envNumber('BENCH_PODS_PER_SERVICE', 10, { max: 100 });
const CONCURRENCY = envNumber('BENCH_CONCURRENCY', 24, { max: 256 });
const IDLE_SECONDS = envNumber('BENCH_IDLE_SECONDS', 10, { max: 120 });
const SERVICES = NAMESPACES * SERVICES_PER_NAMESPACE;
const PODS = SERVICES * PODS_PER_SERVICE;

const LEASE_DURATION_MS = 5000;
const CONVERGE_TIMEOUT_MS = 120_000;
const CHANGE_TIMEOUT_MS = 30_000;
const CONVERGE_POLL_MS = 200;
const CHANGE_POLL_MS = 50;
/** After an observed change: time for follow-up requests (there should be none) before the counter is read. */
const SETTLE_MS = 1000;
const BUDGET_SECONDS = 280;

const ROOT = fileURLToPath(new URL('..', import.meta.url));
// The server as the image ships it: main() compiles and assembles the image
// tree (deploy/image/assemble.sh: one bundle) into IMAGE_TREE.
const IMAGE_TREE = mkdtempSync(join(tmpdir(), 'sq-bench-image-'));
const BIN = join(IMAGE_TREE, 'app/dist/bin.js');
/** The image's node flags (bench/image-runtime.ts); BENCH_SERVER_NODE_FLAGS replaces them, e.g. "" or "--max-semi-space-size=16", to see what a V8 setting does. */
const SERVER_NODE_FLAGS = nodeFlagsFrom(process.env.BENCH_SERVER_NODE_FLAGS);
// The development CA the server makes for itself on first start, under its own root (the image tree).
const DEV_CA = join(IMAGE_TREE, 'app/certs/dev/ca.crt');

const SYSTEM_NAMESPACE = 'sre-quero';
const TEMPLATE_NAME = 'sre-quero-promtail-template';
const TEMPLATE_CONTENT = 'server: {http_listen_port: 9080}\nclients: [{url: "http://loki.bench:3100/loki/api/v1/push"}]\n';
const CONFIG_MAP = 'promtail-sidecar-config';
const PORT_NAME = 'promtail-http';
const INJECTED_LABEL = 'logging.sre-quero/injected';
const STATUS_ANNOTATION = 'logging.sre-quero/status';
const MANAGED_SELECTOR = encodeURIComponent('app.kubernetes.io/managed-by=sre-quero');
const VERBS = ['list', 'watch', 'get', 'apply', 'create'] as const;

const nsName = (i: number) => `bench-${String(i).padStart(3, '0')}`;
const svcName = (i: number) => `svc-${i}`;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
/** Epoch milliseconds with a fraction, comparable with pino's `time` in the child's log. */
const now = () => performance.timeOrigin + performance.now();

// ---- cleanup: the child and the control plane go in every case ---------------

let cp: ControlPlane | undefined;
const children = new Set<ChildProcess>();
let shuttingDown: Promise<void> | undefined;

async function stopChild(child: ChildProcess): Promise<number | string | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode ?? child.signalCode;
  const exited = new Promise<number | string | null>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  const result = await exited;
  clearTimeout(timer);
  return result;
}

function shutdown(): Promise<void> {
  shuttingDown ??= (async () => {
    await Promise.all([...children].map(stopChild));
    children.clear();
    const plane = cp;
    cp = undefined;
    await plane?.stop();
  })();
  return shuttingDown;
}
let interrupted: string | undefined;
const exitAfterShutdown = (code: number) => void shutdown().finally(() => process.exit(code));
for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
  process.once(signal, () => {
    interrupted = signal;
    console.error(`bench/reconciler.ts: ${signal}, stopping the server and the control plane`);
    exitAfterShutdown(code);
  });
}
// Last resort if shutdown itself hangs: no orphaned server.
process.on('exit', () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  rmSync(IMAGE_TREE, { recursive: true, force: true });
});
setTimeout(() => {
  console.error(`bench/reconciler.ts: gave up after ${BUDGET_SECONDS} s`);
  exitAfterShutdown(2);
}, BUDGET_SECONDS * 1000).unref();

// ---- the control plane -----------------------------------------------------------

// ---- API helpers ---------------------------------------------------------------

function plane(): ControlPlane {
  if (cp === undefined) throw new Error('the control plane is gone');
  return cp;
}

let benchRequests = 0;

/** POST with a few retries on transport errors, 429 and 5xx (409 after a retry: the lost answer was a success). */
async function create(path: string, body: unknown): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    benchRequests++;
    const reply = await plane()
      .api('POST', path, body)
      .catch((error: unknown) => ({ status: 0, body: String(error) }));
    if (reply.status === 201 || (reply.status === 409 && attempt > 0)) return;
    if (attempt < 4 && (reply.status === 0 || reply.status === 429 || reply.status >= 500)) {
      await sleep(200 * 2 ** attempt);
      continue;
    }
    throw new Error(`POST ${path}: ${reply.status} ${JSON.stringify(reply.body).slice(0, 300)}`);
  }
}

async function get<T>(path: string): Promise<T> {
  benchRequests++;
  const reply = await plane().api<T>('GET', path);
  if (reply.status !== 200) throw new Error(`GET ${path}: ${reply.status} ${JSON.stringify(reply.body).slice(0, 300)}`);
  return reply.body;
}

/** At most `limit` calls of `work` in flight. */
async function pool<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

interface Port {
  name?: string;
  port: number;
  targetPort?: number | string;
  protocol?: string;
}
interface Service {
  metadata: { name: string; namespace: string };
  spec: { ports?: Port[] };
}
interface ConfigMap {
  metadata: { name: string; namespace: string };
  data?: Record<string, string>;
}

const ourPort = (service: Service) => service.spec.ports?.find((p) => p.name === PORT_NAME);
/** The port must be the one the reconciler promises, or the benchmark measured something else. */
function checkPort(service: Service): void {
  const port = ourPort(service);
  if (port === undefined) return;
  if (port.port !== 9080 || port.targetPort !== PORT_NAME || (port.protocol ?? 'TCP') !== 'TCP') {
    throw new Error(`${service.metadata.namespace}/${service.metadata.name}: unexpected ${PORT_NAME} port ${JSON.stringify(port)}`);
  }
}

function injectedPod(name: string, app: string): unknown {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      labels: { app, [INJECTED_LABEL]: 'true' },
      annotations: { [STATUS_ANNOTATION]: JSON.stringify({ metricsPort: 9080, configMap: CONFIG_MAP }) },
    },
    spec: { containers: [{ name: 'app', image: 'example/app:1' }] },
  };
}

function service(name: string, app: string): unknown {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name }, spec: { selector: { app }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] } };
}

/** Requests by resource from the API server's own counter (the reconciler's lease calls are not in its counter). */
async function apiserverRequests(resource: string): Promise<number> {
  benchRequests++;
  const reply = await plane().api<string>('GET', '/metrics');
  if (reply.status !== 200 || typeof reply.body !== 'string') throw new Error(`GET /metrics on the API server: ${reply.status}`);
  let sum = 0;
  for (const line of reply.body.split('\n')) {
    if (line.startsWith('apiserver_request_total{') && line.includes(`resource="${resource}"`)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

// ---- processes: /proc --------------------------------------------------------------

const CLOCK_TICKS = 100; // USER_HZ on Linux

function procStatus(pid: number): { rssKiB: number; hwmKiB: number } {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? Number.NaN);
  return { rssKiB: field('VmRSS'), hwmKiB: field('VmHWM') };
}

/** User + system CPU seconds of a process (and its threads). */
function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return Number.NaN;
  }
}

/** The pid whose command line holds `needle` (to find this run's etcd and kube-apiserver; read only). */
function pidWith(needle: string): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').some((arg) => arg.includes(needle))) return Number(entry);
    } catch {
      // gone meanwhile
    }
  }
  return undefined;
}

// ---- the server under test -----------------------------------------------------

interface LogLine {
  level?: number;
  time?: number;
  msg?: string;
  [key: string]: unknown;
}

interface Serving {
  child: ChildProcess;
  pid: number;
  spawnedAt: number;
  servingAt: number;
  /** CPU seconds the process had used when it logged 'serving' (node and the app; the reconciler has barely begun). */
  cpuAtServing: number;
  address: string;
  lines: LogLine[];
  stderr(): string;
  /** Resolves with the first log line for which `match` holds, past or future. */
  waitForLine(match: (line: LogLine) => boolean, timeoutMs: number, what: string): Promise<LogLine>;
}

async function startServe(extraArgs: string[]): Promise<Serving> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  // No coverage hooks, and none of this shell's sre-quero settings: the defaults are measured.
  for (const key of Object.keys(env)) if (key === 'NODE_OPTIONS' || key === 'NODE_V8_COVERAGE' || key.startsWith('SRE_QUERO_')) delete env[key];
  // The image's environment (MALLOC_ARENA_MAX among it), as the container gets it.
  Object.assign(env, imageEnv());
  const spawnedAt = now();
  // The built server in plain node, as the image runs it: its pid, RSS and CPU are the server's alone.
  // Log level info: 'sre-quero webhook serving' and the per-write lines are info.
  const child = spawn(process.execPath, [...SERVER_NODE_FLAGS, BIN, 'serve', '--listen', '127.0.0.1:0', '--log-level', 'info', ...extraArgs], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString('utf8')).slice(-4000)));
  const lines: LogLine[] = [];
  const listeners = new Set<(line: LogLine) => void>();
  createInterface({ input: child.stdout! }).on('line', (text) => {
    let line: LogLine;
    try {
      line = JSON.parse(text) as LogLine;
    } catch {
      line = { msg: text };
    }
    lines.push(line);
    for (const listener of listeners) listener(line);
  });
  const waitForLine = (match: (line: LogLine) => boolean, timeoutMs: number, what: string) =>
    new Promise<LogLine>((resolve, reject) => {
      const seen = lines.find(match);
      if (seen) return resolve(seen);
      const done = (error?: Error, line?: LogLine) => {
        clearTimeout(timer);
        listeners.delete(listener);
        child.off('exit', onExit);
        if (error) reject(error);
        else resolve(line as LogLine);
      };
      const listener = (line: LogLine) => match(line) && done(undefined, line);
      const onExit = (code: number | null) => done(new Error(`serve exited (${code}) before ${what}: ${stderr.slice(-1000)}`));
      const timer = setTimeout(() => done(new Error(`no ${what} within ${timeoutMs} ms; stderr: ${stderr.slice(-1000)}`)), timeoutMs);
      listeners.add(listener);
      child.once('exit', onExit);
    });
  const serving = await waitForLine((line) => line.msg === 'sre-quero webhook serving', 60_000, '"sre-quero webhook serving"');
  const cpuAtServing = cpuSeconds(child.pid);
  return {
    cpuAtServing,
    child,
    pid: child.pid as number,
    spawnedAt,
    servingAt: now(),
    address: String(serving.address),
    lines,
    stderr: () => stderr,
    waitForLine,
  };
}

interface Scrape {
  requests: Record<(typeof VERBS)[number], number> & { total: number };
  rssBytes: number;
  heapUsedBytes: number;
  procRssKiB: number;
  procHwmKiB: number;
  cpuSeconds: number;
}

function fetchText(url: string, ca: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const request = https.get(url, { ca, agent: false }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('end', () => (response.statusCode === 200 ? resolve(text) : reject(new Error(`GET ${url}: ${response.statusCode}`))));
      response.on('error', reject);
    });
    request.setTimeout(10_000, () => request.destroy(new Error(`GET ${url}: no answer within 10 s`)));
    request.on('error', reject);
  });
}

async function scrape(server: Serving): Promise<Scrape> {
  const text = await fetchText(`${server.address}/metrics`, readFileSync(DEV_CA));
  const value = (pattern: RegExp) => {
    const match = pattern.exec(text);
    return match ? Number(match[1]) : 0;
  };
  const requests = { total: 0 } as Scrape['requests'];
  for (const verb of VERBS) {
    requests[verb] = value(new RegExp(`^sre_quero_reconciler_api_requests_total\\{verb="${verb}"\\} (\\S+)$`, 'm'));
    requests.total += requests[verb];
  }
  // Lease requests are reported separately (lease*, from kube-apiserver's own counter).
  const other = [...text.matchAll(/^sre_quero_reconciler_api_requests_total\{verb="([^"]+)"\}/gm)].map((m) => m[1]).filter((v) => v !== 'lease' && !(VERBS as readonly string[]).includes(v as string));
  if (other.length > 0) throw new Error(`reconciler counter has verbs this script does not know: ${other.join(', ')}`);
  const proc = procStatus(server.pid);
  return {
    requests,
    rssBytes: value(/^process_resident_memory_bytes (\S+)$/m),
    heapUsedBytes: value(/^nodejs_heap_size_used_bytes (\S+)$/m),
    procRssKiB: proc.rssKiB,
    procHwmKiB: proc.hwmKiB,
    cpuSeconds: cpuSeconds(server.pid),
  };
}

function delta(after: Scrape, before: Scrape): Scrape['requests'] {
  const out = { total: after.requests.total - before.requests.total } as Scrape['requests'];
  for (const verb of VERBS) out[verb] = after.requests[verb] - before.requests[verb];
  return out;
}

/** Polls until `check` returns a value; returns it with the time of the answer that had it. */
async function until<T>(what: string, intervalMs: number, timeoutMs: number, check: () => Promise<T | undefined>): Promise<{ value: T; at: number; polls: number }> {
  const deadline = now() + timeoutMs;
  let polls = 0;
  for (;;) {
    const started = now();
    polls++;
    const value = await check();
    if (value !== undefined) return { value, at: now(), polls };
    if (now() > deadline) throw new Error(`${what}: not reached within ${timeoutMs} ms`);
    await sleep(Math.max(0, intervalMs - (now() - started)));
  }
}

// ---- the run --------------------------------------------------------------------

async function populate(): Promise<void> {
  const api = plane();
  await api.createNamespace(SYSTEM_NAMESPACE, { 'logging.sre-quero/injection': 'disabled' });
  await create(`/api/v1/namespaces/${SYSTEM_NAMESPACE}/configmaps`, {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: TEMPLATE_NAME },
    data: { 'promtail.yaml': TEMPLATE_CONTENT },
  });
  const namespaces = Array.from({ length: NAMESPACES }, (_, i) => nsName(i));
  await pool(namespaces, CONCURRENCY, async (ns) => {
    benchRequests++;
    await api.createNamespace(ns);
  });
  const services: [string, unknown][] = [];
  const pods: [string, unknown][] = [];
  for (const ns of namespaces) {
    for (let s = 0; s < SERVICES_PER_NAMESPACE; s++) {
      services.push([`/api/v1/namespaces/${ns}/services`, service(svcName(s), svcName(s))]);
      for (let p = 0; p < PODS_PER_SERVICE; p++) pods.push([`/api/v1/namespaces/${ns}/pods`, injectedPod(`${svcName(s)}-${p}`, svcName(s))]);
    }
  }
  await pool([...services, ...pods], CONCURRENCY, ([path, body]) => create(path, body));
}

/** Counts Services with the port and namespaces with the managed ConfigMap, and checks both are right. */
async function convergence(namespaces: ReadonlySet<string>): Promise<{ services: number; withPort: number; configMaps: number }> {
  const [serviceList, configMapList] = await Promise.all([
    get<{ items: Service[] }>('/api/v1/services'),
    get<{ items: ConfigMap[] }>(`/api/v1/configmaps?labelSelector=${MANAGED_SELECTOR}`),
  ]);
  let services = 0;
  let withPort = 0;
  for (const item of serviceList.items) {
    if (!namespaces.has(item.metadata.namespace)) continue;
    services++;
    checkPort(item);
    if (ourPort(item)) withPort++;
  }
  let configMaps = 0;
  for (const item of configMapList.items) {
    if (!namespaces.has(item.metadata.namespace) || item.metadata.name !== CONFIG_MAP) continue;
    if (item.data?.['promtail.yaml'] !== TEMPLATE_CONTENT) throw new Error(`${item.metadata.namespace}/${CONFIG_MAP}: not the template's content`);
    configMaps++;
  }
  return { services, withPort, configMaps };
}

const writeMessages = new Set(['service port applied', 'service port released', 'promtail ConfigMap created', 'promtail ConfigMap updated']);

async function main(): Promise<void> {
  const wallStart = now();
  const loadAtStart = loadavg();
  const binaries = findBinaries();
  if (binaries === undefined) {
    console.error(ENABLE_HINT);
    process.exitCode = 1;
    return;
  }

  // The server under test is the image's: compiled, then bundled by assemble.sh.
  execFileSync(process.execPath, [fileURLToPath(new URL('../node_modules/typescript/bin/tsc', import.meta.url)), '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' });
  execFileSync('sh', ['deploy/image/assemble.sh', ROOT, join(IMAGE_TREE, 'app')], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  let mark = now();
  cp = await startControlPlane(binaries, { controllerManager: false });
  const controlPlaneSeconds = (now() - mark) / 1000;
  const apiserverPid = pidWith(`--cert-dir=${cp.dir}/certs`);
  const etcdPid = pidWith(`${cp.dir}/etcd`);

  // The webhook alone, for the RSS the reconciler adds.
  const alone = await startServe(['--reconciler', 'off']);
  await sleep(2000);
  const aloneScrape = await scrape(alone);
  await stopChild(alone.child);

  mark = now();
  const requestsBeforePopulate = benchRequests;
  await populate();
  const populateSeconds = (now() - mark) / 1000;
  const populateRequests = benchRequests - requestsBeforePopulate;
  const appNamespaces = new Set(Array.from({ length: NAMESPACES }, (_, i) => nsName(i)));
  const start = await convergence(appNamespaces);
  const podCount = (await get<{ items: { metadata: { namespace: string } }[] }>(`/api/v1/pods?labelSelector=${encodeURIComponent(`${INJECTED_LABEL}=true`)}`)).items.filter((p) =>
    appNamespaces.has(p.metadata.namespace),
  ).length;
  if (start.services !== SERVICES || podCount !== PODS || start.withPort !== 0 || start.configMaps !== 0) {
    throw new Error(`populated ${start.services} Services and ${podCount} pods (${start.withPort} with the port, ${start.configMaps} ConfigMaps); expected ${SERVICES}, ${PODS}, 0, 0`);
  }
  console.log(
    `control plane up in ${controlPlaneSeconds.toFixed(1)} s; populated ${NAMESPACES} namespaces, ${fmt(SERVICES)} Services, ${fmt(PODS)} pods ` +
      `(${fmt(populateRequests)} requests, ${CONCURRENCY} in flight) in ${populateSeconds.toFixed(1)} s (${fmt(populateRequests / populateSeconds)} objects/s)`,
  );

  // ---- start -> converged -------------------------------------------------------
  const leaseBefore = await apiserverRequests('leases');
  const cpuBefore = { apiserver: cpuSeconds(apiserverPid), etcd: cpuSeconds(etcdPid), bench: process.cpuUsage() };
  const benchRequestsBefore = benchRequests;
  const server = await startServe(['--kubeconfig', cp.kubeconfig, '--lease-duration-ms', String(LEASE_DURATION_MS)]);
  let lastProgress = 0;
  const converged = await until('convergence', CONVERGE_POLL_MS, CONVERGE_TIMEOUT_MS, async () => {
    const state = await convergence(appNamespaces);
    lastProgress = state.withPort + state.configMaps;
    return state.withPort === SERVICES && state.configMaps === NAMESPACES ? state : undefined;
  }).catch((error: unknown) => {
    throw new Error(`${(error as Error).message} (${lastProgress} of ${SERVICES + NAMESPACES} objects done); last log lines:\n${server.lines.slice(-10).map((l) => JSON.stringify(l)).join('\n')}`);
  });
  const atConverged = await scrape(server);
  const cpuAtConverged = {
    apiserver: cpuSeconds(apiserverPid) - cpuBefore.apiserver,
    etcd: cpuSeconds(etcdPid) - cpuBefore.etcd,
    bench: (() => {
      const used = process.cpuUsage(cpuBefore.bench);
      return (used.user + used.system) / 1e6;
    })(),
  };
  const pollRequests = benchRequests - benchRequestsBefore;
  const leaseAtConverged = (await apiserverRequests('leases')) - leaseBefore;

  const at = (msg: string) => server.lines.find((line) => line.msg === msg)?.time;
  const leaseAt = at('reconciler lease acquired; reconciling');
  const syncedAt = at('reconciler caches synced');
  const writes = server.lines.filter((line) => line.msg !== undefined && writeMessages.has(line.msg) && (line.time ?? Infinity) <= converged.at);
  const writeTimes = writes.map((line) => line.time as number);
  const firstWrite = writeTimes[0];
  const lastWrite = writeTimes[writeTimes.length - 1];
  const gaps = Float64Array.from(writeTimes.slice(1).map((t, i) => t - (writeTimes[i] as number))).sort();
  const serviceWrites = writes.filter((line) => line.msg === 'service port applied').length;
  const configMapWrites = writes.filter((line) => line.msg === 'promtail ConfigMap created').length;

  // Quiet before the changes: nothing left in flight.
  await sleep(SETTLE_MS);
  let settled = await scrape(server);
  for (let i = 0; i < 10 && settled.requests.total !== (await scrape(server)).requests.total; i++) {
    await sleep(SETTLE_MS);
    settled = await scrape(server);
  }

  // ---- change 1: a new Service selecting injected pods -------------------------------
  const addNs = nsName(Math.floor(NAMESPACES / 2));
  const addName = 'bench-added';
  const addLeaseBefore = await apiserverRequests('leases');
  const addSent = now();
  await create(`/api/v1/namespaces/${addNs}/services`, service(addName, svcName(0)));
  const added = await until('the port on the new Service', CHANGE_POLL_MS, CHANGE_TIMEOUT_MS, async () => {
    const svc = await get<Service>(`/api/v1/namespaces/${addNs}/services/${addName}`);
    checkPort(svc);
    return ourPort(svc);
  });
  const addLog = await server.waitForLine((line) => line.msg === 'service port applied' && line.service === `${addNs}/${addName}`, 5000, 'the apply log line of the new Service');
  await sleep(SETTLE_MS);
  const afterAdd = await scrape(server);
  const addLease = (await apiserverRequests('leases')) - addLeaseBefore;

  // ---- change 2: the pods of one Service deleted -------------------------------------
  const delNs = nsName(Math.floor(NAMESPACES / 2) + (NAMESPACES > 1 ? 1 : 0));
  const delService = svcName(Math.min(5, SERVICES_PER_NAMESPACE - 1));
  const delLeaseBefore = await apiserverRequests('leases');
  const delSent = now();
  benchRequests++;
  // No node: the API server deletes unscheduled pods at once, so this is the moment they are gone.
  const deleted = await plane().api('DELETE', `/api/v1/namespaces/${delNs}/pods?labelSelector=${encodeURIComponent(`app=${delService}`)}`);
  if (deleted.status !== 200 || (deleted.body as { items?: unknown[] }).items?.length !== PODS_PER_SERVICE) {
    throw new Error(`deleting the pods of ${delNs}/${delService}: ${deleted.status}, ${(deleted.body as { items?: unknown[] }).items?.length} deleted`);
  }
  const removed = await until('the port to go', CHANGE_POLL_MS, CHANGE_TIMEOUT_MS, async () => {
    const svc = await get<Service>(`/api/v1/namespaces/${delNs}/services/${delService}`);
    return ourPort(svc) ? undefined : svc;
  });
  if (removed.value.spec.ports?.map((p) => p.name).join(',') !== 'http') throw new Error(`after removal: ports ${JSON.stringify(removed.value.spec.ports)}`);
  const delLog = await server.waitForLine((line) => line.msg === 'service port released' && line.service === `${delNs}/${delService}`, 5000, 'the release log line');
  await sleep(SETTLE_MS);
  const afterDelete = await scrape(server);
  const delLease = (await apiserverRequests('leases')) - delLeaseBefore;

  // ---- idle ---------------------------------------------------------------------------
  const idleLeaseBefore = await apiserverRequests('leases');
  const idleBefore = await scrape(server);
  await sleep(IDLE_SECONDS * 1000);
  const idleAfter = await scrape(server);
  const idleAfterAt = now();
  const idleLease = (await apiserverRequests('leases')) - idleLeaseBefore;

  const writesBetween = (from: number, to: number) =>
    server.lines
      .filter((line) => line.msg !== undefined && writeMessages.has(line.msg) && (line.time as number) >= from && (line.time as number) <= to)
      .map((line) => `${line.msg} ${String(line.service ?? line.configMap)} at +${fmt((line.time as number) - from)} ms`);
  const addWrites = writesBetween(addSent, delSent);
  const delWrites = writesBetween(delSent, idleAfterAt);
  const problems = server.lines.filter((line) => (line.level ?? 0) >= 40);
  const exit = await stopChild(server.child);
  await shutdown();

  // ---- report -------------------------------------------------------------------------
  const fromSpawn = (t: number | undefined) => (t === undefined ? Number.NaN : (t - server.spawnedAt) / 1000);
  const mib = (bytes: number) => bytes / 1024 / 1024;
  const changes = {
    add: { ms: added.at - addSent, logMs: (addLog.time as number) - addSent, requests: delta(afterAdd, settled), lease: addLease },
    remove: { ms: removed.at - delSent, logMs: (delLog.time as number) - delSent, requests: delta(afterDelete, afterAdd), lease: delLease },
  };
  const idle = { requests: delta(idleAfter, idleBefore), lease: idleLease };
  const applyMs = lastWrite !== undefined && firstWrite !== undefined && writes.length > 1 ? (lastWrite - firstWrite) / (writes.length - 1) : Number.NaN;
  const convergeSeconds = (converged.at - server.spawnedAt) / 1000;
  const servingToConvergedSeconds = (converged.at - server.servingAt) / 1000;

  console.log(
    `reconciler benchmark: ${NAMESPACES} namespaces x ${SERVICES_PER_NAMESPACE} Services x ${PODS_PER_SERVICE} injected pods ` +
      `= ${fmt(SERVICES)} Services, ${fmt(PODS)} pods; kube-apiserver v${K8S_VERSION} + etcd on loopback, no controller-manager; ` +
      `\`sre-quero serve\` in a child process (node ${process.version} ${SERVER_NODE_FLAGS.join(' ')}, env ${Object.entries(imageEnv()).map(([k, v]) => `${k}=${v}`).join(' ')}, the image's bundled dist/bin.js)`,
  );
  console.log(`  machine: ${cpus().length} CPUs, load average ${loadAtStart.map((l) => l.toFixed(2)).join(' ')} at start`);
  console.log();
  console.log(
    table([
      ['from spawn', 's'],
      ['"sre-quero webhook serving"', fmt(fromSpawn(server.servingAt), 2)],
      ['lease acquired', fmt(fromSpawn(leaseAt), 2)],
      ['caches synced (4 informers; the 2 of the escaped-pods report list beside them)', fmt(fromSpawn(syncedAt), 2)],
      ['first write', fmt(fromSpawn(firstWrite), 2)],
      [`last write (${writes.length} writes)`, fmt(fromSpawn(lastWrite), 2)],
      [`converged, seen by polling every ${CONVERGE_POLL_MS} ms`, fmt(convergeSeconds, 2)],
      ['  serving -> converged', fmt(servingToConvergedSeconds, 2)],
    ]),
  );
  console.log(
    `  writes: ${serviceWrites} Service applies + ${configMapWrites} ConfigMap applies, ${fmt(applyMs, 1)} ms each on average ` +
      `(gap between writes p50 ${fmt(percentile(gaps, 50), 1)}, p99 ${fmt(percentile(gaps, 99), 1)}, max ${fmt(percentile(gaps, 100), 1)} ms)`,
  );
  console.log(
    `  CPU spawn -> converged: reconciler ${fmt(atConverged.cpuSeconds, 2)} s (${fmt(server.cpuAtServing, 2)} s of it before 'serving'), kube-apiserver ${fmt(cpuAtConverged.apiserver, 2)} s, ` +
      `etcd ${fmt(cpuAtConverged.etcd, 2)} s, this script ${fmt(cpuAtConverged.bench, 2)} s (${pollRequests} polling requests)`,
  );
  console.log();
  const requestRow = (name: string, time: string, r: Scrape['requests'], lease: number) => [
    name,
    time,
    fmt(r.total),
    ...VERBS.map((verb) => fmt(r[verb])),
    fmt(lease),
  ];
  console.log(
    table([
      ['phase', 'time', 'requests', ...VERBS, 'lease*'],
      requestRow('start -> converged', `${fmt(convergeSeconds, 2)} s`, atConverged.requests, leaseAtConverged),
      requestRow(`new Service ${addNs}/${addName} -> port`, `${fmt(changes.add.ms)} ms`, changes.add.requests, changes.add.lease),
      requestRow(`${PODS_PER_SERVICE} pods of ${delNs}/${delService} deleted -> port gone`, `${fmt(changes.remove.ms)} ms`, changes.remove.requests, changes.remove.lease),
      requestRow(`idle`, `${IDLE_SECONDS} s`, idle.requests, idle.lease),
    ]),
  );
  console.log(
    `  change times are from the request that made the change to the first GET (every ${CHANGE_POLL_MS} ms) that showed the result; ` +
      `the reconciler logged its write after ${fmt(changes.add.logMs)} ms and ${fmt(changes.remove.logMs)} ms.`,
  );
  console.log(`  writes logged after the new Service: ${addWrites.join('; ') || 'none'}`);
  console.log(`  writes logged after the pod deletion: ${delWrites.join('; ') || 'none'}`);
  console.log(`  * lease: the lease election's reads and updates, from kube-apiserver's apiserver_request_total; they are not in sre_quero_reconciler_api_requests_total.`);
  console.log();
  console.log(
    table([
      ['memory', 'RSS MiB', 'peak RSS MiB', 'heap used MiB'],
      ['webhook alone (--reconciler off)', fmt(mib(aloneScrape.rssBytes), 1), fmt(aloneScrape.procHwmKiB / 1024, 1), fmt(mib(aloneScrape.heapUsedBytes), 1)],
      ['reconciler at converged', fmt(mib(atConverged.rssBytes), 1), fmt(atConverged.procHwmKiB / 1024, 1), fmt(mib(atConverged.heapUsedBytes), 1)],
      ['after the two changes', fmt(mib(afterDelete.rssBytes), 1), fmt(afterDelete.procHwmKiB / 1024, 1), fmt(mib(afterDelete.heapUsedBytes), 1)],
      [`after ${IDLE_SECONDS} s idle`, fmt(mib(idleAfter.rssBytes), 1), fmt(idleAfter.procHwmKiB / 1024, 1), fmt(mib(idleAfter.heapUsedBytes), 1)],
    ]),
  );
  console.log(`  RSS from process_resident_memory_bytes on /metrics; peak is VmHWM from /proc/<pid>/status. Both are the whole node process.`);
  for (const line of problems.slice(0, 5)) console.log(`  reconciler ${line.level === 40 ? 'warning' : 'error'}: ${JSON.stringify(line)}`);
  if (problems.length > 5) console.log(`  ... ${problems.length - 5} more warnings/errors`);
  console.log(`(child exit ${exit} after SIGTERM; ${((now() - wallStart) / 1000).toFixed(1)} s in all)`);

  const requestsJson = (r: Scrape['requests']) => ({ ...r });
  const json = {
    bench: 'reconciler',
    node: process.version,
    namespaces: NAMESPACES,
    services: SERVICES,
    pods: PODS,
    populate: { seconds: round(populateSeconds, 2), requests: populateRequests, concurrency: CONCURRENCY },
    startup: {
      servingSeconds: round(fromSpawn(server.servingAt), 3),
      leaseSeconds: round(fromSpawn(leaseAt), 3),
      syncedSeconds: round(fromSpawn(syncedAt), 3),
      firstWriteSeconds: round(fromSpawn(firstWrite), 3),
      lastWriteSeconds: round(fromSpawn(lastWrite), 3),
      convergedSeconds: round(convergeSeconds, 3),
      servingToConvergedSeconds: round(servingToConvergedSeconds, 3),
      writes: writes.length,
      msPerWrite: round(applyMs, 2),
      writeGapP50Ms: round(percentile(gaps, 50), 2),
      writeGapP99Ms: round(percentile(gaps, 99), 2),
      requests: requestsJson(atConverged.requests),
      leaseRequests: leaseAtConverged,
      cpuSeconds: { reconciler: round(atConverged.cpuSeconds, 2), reconcilerBeforeServing: round(server.cpuAtServing, 2), apiserver: round(cpuAtConverged.apiserver, 2), etcd: round(cpuAtConverged.etcd, 2), bench: round(cpuAtConverged.bench, 2) },
    },
    changes: {
      addService: { ms: round(changes.add.ms, 1), logMs: round(changes.add.logMs, 1), requests: requestsJson(changes.add.requests), leaseRequests: changes.add.lease },
      deletePods: { ms: round(changes.remove.ms, 1), logMs: round(changes.remove.logMs, 1), requests: requestsJson(changes.remove.requests), leaseRequests: changes.remove.lease },
    },
    idle: { seconds: IDLE_SECONDS, requests: requestsJson(idle.requests), leaseRequests: idle.lease },
    memoryMiB: {
      webhookAlone: round(mib(aloneScrape.rssBytes), 1),
      converged: round(mib(atConverged.rssBytes), 1),
      peak: round(idleAfter.procHwmKiB / 1024, 1),
      afterChanges: round(mib(afterDelete.rssBytes), 1),
      afterIdle: round(mib(idleAfter.rssBytes), 1),
      heapUsedConverged: round(mib(atConverged.heapUsedBytes), 1),
    },
  };
  console.log(`BENCH_JSON ${JSON.stringify(json)}`);
}

main().then(
  () => exitAfterShutdown(process.exitCode === undefined ? 0 : Number(process.exitCode)),
  (error: unknown) => {
    // After a signal, the failure is only the run being cut short.
    if (interrupted === undefined) console.error('bench/reconciler.ts failed:', error);
    exitAfterShutdown(1);
  },
);
