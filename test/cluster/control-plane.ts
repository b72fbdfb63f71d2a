import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { etcdArgs, freePort, sleep } from './net.js';
import { apiClient, kubectlRunner, type ApiReply, type Identity } from './client.js';
import { writeApiserverAuth, writeKubeconfig } from './credentials.js';
import type { Binaries } from './versions.js';

// A real control plane without a node, one per test file: etcd,
// kube-apiserver and kube-controller-manager of the pinned release (built by
// test/cluster/provision.sh). Free loopback ports, a temp dir, and everything
// stopped at the end. Tests that need pods to run use the shared cluster with
// a node instead (node-cluster.ts).

export { clusterRequired, ENABLE_HINT, findBinaries, K8S_VERSION, type Binaries } from './versions.js';

export type { ApiReply, Identity } from './client.js';

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
  /** Creates a namespace (with the name label, as the API server adds it, so callers may rely on it). */
  createNamespace(name: string, labels?: Record<string, string>): Promise<void>;
  logTail(component: 'etcd' | 'apiserver' | 'controller-manager', lines?: number): string;
  /** Stops kube-apiserver (every watch drops), waits `downMs`, starts it again on the same port and etcd. */
  restartApiServer(downMs: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startControlPlane(
  binaries: Binaries,
  options: { identities?: Identity[]; controllerManager?: boolean; apiserverArgs?: string[] } = {},
): Promise<ControlPlane> {
  const dir = mkdtempSync(join(tmpdir(), 'sq-k8s-'));
  const [etcdPort, peerPort, apiPort] = [await freePort(), await freePort(), await freePort()];
  const admin: Identity = { user: 'sq-admin', token: `admin-${process.pid}-${Date.now()}`, groups: ['system:masters'] };
  const auth = writeApiserverAuth(dir, [admin, ...(options.identities ?? [])]);

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
    const error = new Error(`${what} did not become ready; last log lines:\n${logTail(log)}`);
    killAll();
    rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
    throw error;
  };

  start('etcd', binaries.etcd, etcdArgs(join(dir, 'etcd'), etcdPort, peerPort));
  await waitFor('etcd', () => new Promise((resolve) => {
    httpRequest(`http://127.0.0.1:${etcdPort}/health`, (res) => { res.resume(); resolve(res.statusCode === 200); }).on('error', () => resolve(false)).end();
  }), 30_000, 'etcd');

  const apiserverArgs = [
    `--etcd-servers=http://127.0.0.1:${etcdPort}`,
    `--secure-port=${apiPort}`,
    '--bind-address=127.0.0.1',
    '--advertise-address=127.0.0.1',
    // No node here and nothing dials the `kubernetes` Service; a loopback
    // advertise address is refused by the endpoint reconciler (1.2x+).
    '--endpoint-reconciler-type=none',
    `--cert-dir=${join(dir, 'certs')}`,
    ...auth.args,
    '--service-cluster-ip-range=10.0.0.0/16',
    '--disable-admission-plugins=ServiceAccount',
    ...(options.apiserverArgs ?? []),
  ];
  let apiserver = start('apiserver', binaries.apiserver, apiserverArgs);
  const server = `https://127.0.0.1:${apiPort}`;
  const caFile = join(dir, 'certs', 'apiserver.crt');

  const api = apiClient({ server, caFile, token: admin.token });

  await waitFor('kube-apiserver', async () => existsSync(caFile) && (await api('GET', '/readyz')).status === 200, 60_000, 'apiserver');

  const kubeconfig = join(dir, 'kubeconfig');
  writeKubeconfig(kubeconfig, { name: 'test', server, caFile, token: admin.token });

  if (options.controllerManager !== false) {
    start('controller-manager', binaries.controllerManager, [
      `--kubeconfig=${kubeconfig}`,
      `--service-account-private-key-file=${auth.serviceAccountKey}`,
      '--leader-elect=false',
      '--secure-port=0',
      '--controllers=*,-nodeipam,-nodelifecycle,-attachdetach,-persistentvolume-binder,-persistentvolume-expander',
    ]);
  }

  const kubectl = kubectlRunner(binaries.kubectl, kubeconfig);

  const createNamespace = async (name: string, labels: Record<string, string> = {}) => {
    const reply = await api('POST', '/api/v1/namespaces', {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name, labels: { 'kubernetes.io/metadata.name': name, ...labels } },
    });
    if (reply.status !== 201) throw new Error(`creating namespace ${name}: ${reply.status} ${JSON.stringify(reply.body)}`);
  };

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
