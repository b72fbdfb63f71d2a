import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';

// A real control plane for the end-to-end suite: Debian's etcd plus
// kube-apiserver and kube-controller-manager v1.20.2 built from Debian's
// source by test/cluster/provision.sh. Free loopback ports, a temp dir, and
// everything stopped at the end.

export const K8S_VERSION = '1.20.2';
export const ENABLE_HINT =
  'real-cluster suite not run: no kube-apiserver v1.20.2 found; enable it with `bash test/cluster/provision.sh` ' +
  '(as root, ~8 min once, cached) or set SRE_QUERO_K8S_BIN to a directory holding kube-apiserver, kube-controller-manager and kubectl';

export interface Binaries {
  apiserver: string;
  controllerManager: string;
  etcd: string;
  kubectl: string;
}

function which(command: string): string | undefined {
  const found = spawnSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' });
  return found.status === 0 ? found.stdout.trim() : undefined;
}

/** The binaries, or undefined when this machine has not been provisioned. */
export function findBinaries(env: NodeJS.ProcessEnv = process.env): Binaries | undefined {
  const cacheRoot = env.SRE_QUERO_CACHE ?? join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'sre-quero');
  const dir = env.SRE_QUERO_K8S_BIN ?? join(cacheRoot, `k8s-v${K8S_VERSION}`, 'bin');
  const apiserver = join(dir, 'kube-apiserver');
  const controllerManager = join(dir, 'kube-controller-manager');
  const kubectl = join(dir, 'kubectl');
  const etcd = which('etcd');
  if (![apiserver, controllerManager, kubectl].every((file) => existsSync(file)) || !etcd) return undefined;
  return { apiserver, controllerManager, etcd, kubectl };
}

/** CI sets this so a missing control plane fails the run instead of skipping the suite. */
export const clusterRequired = (env: NodeJS.ProcessEnv = process.env): boolean => env.SRE_QUERO_REQUIRE_CLUSTER === '1';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface ApiReply<T = any> {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: T;
  /** The API server's Warning headers, e.g. admission webhook warnings. */
  warnings: string[];
}

export interface Identity {
  user: string;
  token: string;
  groups: string[];
}

export interface ControlPlane {
  server: string;
  caFile: string;
  kubeconfig: string;
  admin: Identity;
  dir: string;
  /** A raw API call as `as` (default admin). */
  api<T = any>(method: string, path: string, body?: unknown, options?: { as?: Identity; contentType?: string }): Promise<ApiReply<T>>;
  /** Runs kubectl without blocking the event loop (the webhook under test may live in this process). */
  kubectl(args: string[], options?: { input?: string; as?: Identity }): Promise<{ status: number | null; stdout: string; stderr: string }>;
  /** Creates a namespace with the label 1.21+ API servers add by themselves. */
  createNamespace(name: string, labels?: Record<string, string>): Promise<void>;
  logTail(component: 'etcd' | 'apiserver' | 'controller-manager', lines?: number): string;
  /** Stops kube-apiserver (every watch drops), waits `downMs`, starts it again on the same port and etcd. */
  restartApiServer(downMs: number): Promise<void>;
  stop(): Promise<void>;
}

function parseWarnings(header: string | string[] | undefined): string[] {
  const values = header === undefined ? [] : Array.isArray(header) ? header : [header];
  // Warning: 299 - "text"
  return values.flatMap((value) => [...value.matchAll(/299 - "((?:[^"\\]|\\.)*)"/g)].map((m) => (m[1] as string).replace(/\\(.)/g, '$1')));
}

export async function startControlPlane(
  binaries: Binaries,
  options: { identities?: Identity[]; controllerManager?: boolean; apiserverArgs?: string[] } = {},
): Promise<ControlPlane> {
  const dir = mkdtempSync(join(tmpdir(), 'sq-k8s-'));
  const [etcdPort, peerPort, apiPort] = [await freePort(), await freePort(), await freePort()];
  const admin: Identity = { user: 'sq-admin', token: `admin-${process.pid}-${Date.now()}`, groups: ['system:masters'] };
  const identities = [admin, ...(options.identities ?? [])];
  writeFileSync(
    join(dir, 'tokens.csv'),
    identities.map((id, i) => `${id.token},${id.user},uid-${i},"${id.groups.join(',')}"`).join('\n') + '\n',
  );
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  writeFileSync(join(dir, 'sa.key'), privateKey.export({ type: 'pkcs1', format: 'pem' }));
  writeFileSync(join(dir, 'sa.pub'), publicKey.export({ type: 'spki', format: 'pem' }));

  const children: ChildProcess[] = [];
  const logFile = (name: string) => join(dir, `${name}.log`);
  const start = (name: string, command: string, args: string[]) => {
    const out = openSync(logFile(name), 'a');
    const child = spawn(command, args, { stdio: ['ignore', out, out], detached: false });
    children.push(child);
    return child;
  };
  const killAll = () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  process.once('exit', killAll);

  const logTail = (name: string, lines = 40) => {
    try {
      return readFileSync(logFile(name), 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  };

  const waitFor = async (what: string, check: () => Promise<boolean>, timeoutMs: number, log: string) => {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (await check().catch(() => false)) return;
      if (children.some((child) => child.exitCode !== null)) break;
      await sleep(250);
    }
    killAll();
    throw new Error(`${what} did not become ready; last log lines:\n${logTail(log)}`);
  };

  start('etcd', binaries.etcd, [
    '--data-dir', join(dir, 'etcd'),
    '--listen-client-urls', `http://127.0.0.1:${etcdPort}`,
    '--advertise-client-urls', `http://127.0.0.1:${etcdPort}`,
    '--listen-peer-urls', `http://127.0.0.1:${peerPort}`,
    '--initial-advertise-peer-urls', `http://127.0.0.1:${peerPort}`,
    '--initial-cluster', `default=http://127.0.0.1:${peerPort}`,
  ]);
  await waitFor('etcd', () => new Promise((resolve) => {
    httpRequest(`http://127.0.0.1:${etcdPort}/health`, (res) => { res.resume(); resolve(res.statusCode === 200); }).on('error', () => resolve(false)).end();
  }), 30_000, 'etcd');

  const apiserverArgs = [
    `--etcd-servers=http://127.0.0.1:${etcdPort}`,
    `--secure-port=${apiPort}`,
    '--bind-address=127.0.0.1',
    '--advertise-address=127.0.0.1',
    `--cert-dir=${join(dir, 'certs')}`,
    '--service-account-issuer=https://kubernetes.default.svc',
    `--service-account-key-file=${join(dir, 'sa.pub')}`,
    `--service-account-signing-key-file=${join(dir, 'sa.key')}`,
    `--token-auth-file=${join(dir, 'tokens.csv')}`,
    '--authorization-mode=RBAC',
    '--service-cluster-ip-range=10.0.0.0/16',
    '--disable-admission-plugins=ServiceAccount',
    ...(options.apiserverArgs ?? []),
  ];
  let apiserver = start('apiserver', binaries.apiserver, apiserverArgs);
  const server = `https://127.0.0.1:${apiPort}`;
  const caFile = join(dir, 'certs', 'apiserver.crt');

  const api = <T = any>(method: string, path: string, body?: unknown, callOptions: { as?: Identity; contentType?: string } = {}): Promise<ApiReply<T>> =>
    new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
      const req = httpsRequest(
        `${server}${path}`,
        {
          method,
          ca: readFileSync(caFile),
          agent: false,
          headers: {
            authorization: `Bearer ${(callOptions.as ?? admin).token}`,
            accept: 'application/json',
            ...(payload === undefined ? {} : { 'content-type': callOptions.contentType ?? 'application/json' }),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown = text;
            try {
              parsed = JSON.parse(text);
            } catch {
              /* not JSON (e.g. /readyz) */
            }
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed as T, warnings: parseWarnings(res.headers.warning) });
          });
        },
      );
      req.on('error', reject);
      req.end(payload);
    });

  await waitFor('kube-apiserver', async () => existsSync(caFile) && (await api('GET', '/readyz')).status === 200, 60_000, 'apiserver');

  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(
    kubeconfig,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'test', cluster: { server, 'certificate-authority': caFile } }],
      users: [{ name: 'admin', user: { token: admin.token } }],
      contexts: [{ name: 'test', context: { cluster: 'test', user: 'admin' } }],
      'current-context': 'test',
    }),
  );

  if (options.controllerManager !== false) {
    start('controller-manager', binaries.controllerManager, [
      `--kubeconfig=${kubeconfig}`,
      `--service-account-private-key-file=${join(dir, 'sa.key')}`,
      '--leader-elect=false',
      '--secure-port=0',
      '--port=0',
      '--controllers=*,-nodeipam,-nodelifecycle,-attachdetach,-persistentvolume-binder,-persistentvolume-expander',
    ]);
  }

  const kubectl = (args: string[], callOptions: { input?: string; as?: Identity } = {}) =>
    new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn(binaries.kubectl, ['--kubeconfig', kubeconfig, ...(callOptions.as ? ['--token', callOptions.as.token] : []), ...args], {
        stdio: ['pipe', 'pipe', 'pipe'],
        timeout: 60_000,
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk) => (stdout += chunk));
      child.stderr.on('data', (chunk) => (stderr += chunk));
      child.on('error', reject);
      child.on('close', (status) => resolve({ status, stdout, stderr }));
      child.stdin.end(callOptions.input ?? '');
    });

  const createNamespace = async (name: string, labels: Record<string, string> = {}) => {
    const reply = await api('POST', '/api/v1/namespaces', {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name, labels: { 'kubernetes.io/metadata.name': name, ...labels } },
    });
    if (reply.status !== 201) throw new Error(`creating namespace ${name}: ${reply.status} ${JSON.stringify(reply.body)}`);
  };

  // 1.21+ API servers label every namespace with its name; the webhook
  // configurations select on that label, so give 1.20's namespaces it too.
  for (const name of ['kube-system', 'default', 'kube-public']) {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const reply = await api('PATCH', `/api/v1/namespaces/${name}`, { metadata: { labels: { 'kubernetes.io/metadata.name': name } } }, { contentType: 'application/merge-patch+json' });
      if (reply.status === 200) break;
      if (Date.now() > deadline) throw new Error(`labelling namespace ${name}: ${reply.status}`);
      await sleep(250);
    }
  }

  const restartApiServer = async (downMs: number) => {
    // SIGKILL: a crash drops every connection at once (a graceful stop waits for watches).
    const exited = new Promise((resolve) => apiserver.once('exit', resolve));
    apiserver.kill('SIGKILL');
    await exited;
    children.splice(children.indexOf(apiserver), 1);
    await sleep(downMs);
    apiserver = start('apiserver', binaries.apiserver, apiserverArgs);
    await waitFor('kube-apiserver after a restart', async () => (await api('GET', '/readyz')).status === 200, 60_000, 'apiserver');
  };

  const stop = async () => {
    process.removeListener('exit', killAll);
    for (const child of children.reverse()) {
      if (child.exitCode !== null || child.signalCode !== null) continue;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([exited, new Promise((resolve) => (timer = setTimeout(resolve, 5000)))]);
      clearTimeout(timer);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  };

  return { server, caFile, kubeconfig, admin, dir, api, kubectl, createNamespace, logTail, restartApiServer, stop };
}
