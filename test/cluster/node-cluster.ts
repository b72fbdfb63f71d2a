import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeCertificates } from '../../src/certs.js';
import { writeApiserverAuth, writeKubeconfig } from './credentials.js';
import { etcdArgs, freePort, httpGet, sleep } from './net.js';
import { lokiSetup, prometheusSetup } from './observability.js';
import {
  createBridge,
  deleteBridge,
  deleteKubeProxyTables,
  isAlive,
  listPaths,
  podProcesses,
  processesMentioning,
  readSysctls,
  removeNewPaths,
  removePodCgroups,
  restoreSysctls,
  unmountBelow,
} from './host.js';
import type { Binaries } from './versions.js';

// A whole Kubernetes cluster on this machine: etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler, and one real node (containerd +
// runc + CNI bridge, kubelet, kube-proxy in nftables mode), plus Loki and
// Prometheus beside it (observability.ts). Every process runs
// detached with its pid in <dir>/state.json, so the cluster outlives the
// command that started it (`npm run cluster:up`, tap's `before`) and any
// process can stop it from that file. The facts behind each setting:
// shared/docs/real-node.md.
//
// Networking: a bridge owned by the cluster carries the pod gateway address;
// the API server binds to that address (pods reach the host through it) and
// advertises it, and kube-proxy turns the `kubernetes` Service IP into it, as
// in a real cluster. Nothing listens beyond the bridge and loopback.

/** Only one node may run on a machine at a time: the kubelet's cgroups, kube-proxy's table and containerd's shim directory are global. */
const NODE_LOCK = '/run/sre-quero-node.json';

export interface ClusterState {
  dir: string;
  version: string;
  node: string;
  bridge: string;
  gateway: string;
  podCidr: string;
  serviceCidr: string;
  server: string;
  caFile: string;
  kubeconfig: string;
  adminToken: string;
  containerdSocket: string;
  /** Loki's base URL (push: /loki/api/v1/push), reachable from the host and from pods. */
  lokiUrl: string;
  prometheusUrl: string;
  pids: Record<string, number>;
  sysctls: Record<string, string>;
  /** What existed in the global paths containerd and the kubelet write to (host.ts GLOBAL_PATHS) before the node started. */
  globalPathsBefore: string[];
}

export interface StartOptions {
  dir: string;
  binaries: Binaries;
  version: string;
  /** OCI archives to import into containerd (`pauseImage` among them). */
  images: string[];
  pauseImage: string;
  /** The binaries run beside the node. */
  loki: string;
  prometheus: string;
  /** The address block: pods 10.244.<n>.0/24, Services 10.96.<n>.0/24, bridge sqbr<n>. */
  subnet?: number;
  log?: (line: string) => void;
}

const statePath = (dir: string) => join(dir, 'state.json');
const readState = (dir: string): ClusterState => JSON.parse(readFileSync(statePath(dir), 'utf8')) as ClusterState;
const writeState = (state: ClusterState) => writeFileSync(statePath(state.dir), JSON.stringify(state, null, 2));

function startDetached(state: ClusterState, name: string, command: string, args: string[], env: NodeJS.ProcessEnv = process.env): void {
  const out = openSync(join(state.dir, `${name}.log`), 'a');
  const child = spawn(command, args, { stdio: ['ignore', out, out], detached: true, env });
  child.unref();
  if (child.pid === undefined) throw new Error(`${name} did not start`);
  state.pids[name] = child.pid;
  writeState(state);
}

/** SIGTERM to each process group, then SIGKILL to those still there after 5 s; all at once. */
function terminate(pids: number[]): void {
  const signal = (pid: number, sig: NodeJS.Signals) => {
    try {
      process.kill(-pid, sig);
    } catch {
      /* gone already */
    }
  };
  for (const pid of pids) signal(pid, 'SIGTERM');
  const deadline = Date.now() + 5000;
  while (pids.some(isAlive) && Date.now() < deadline) spawnSync('sleep', ['0.1']);
  for (const pid of pids.filter(isAlive)) signal(pid, 'SIGKILL');
}

export function logTail(dir: string, name: string, lines = 30): string {
  try {
    return readFileSync(join(dir, `${name}.log`), 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

async function waitFor(state: ClusterState, what: string, log: string, check: () => Promise<boolean> | boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await Promise.resolve().then(check).catch(() => false)) return;
    const pid = state.pids[log];
    if (pid !== undefined && !isAlive(pid)) break;
    await sleep(200);
  }
  throw new Error(`${what} did not happen within ${timeoutMs / 1000} s; last lines of ${log}.log:\n${logTail(state.dir, log)}`);
}

/** Runs a command of the cluster (kubectl, ctr) to completion. */
function runChecked(command: string, args: string[], input?: string): string {
  const result = spawnSync(command, args, { encoding: 'utf8', input, timeout: 120_000 });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (${result.status}): ${result.stderr || result.error?.message}`);
  return result.stdout;
}

function checkNoOtherNode(): void {
  if (!existsSync(NODE_LOCK)) return;
  const other = JSON.parse(readFileSync(NODE_LOCK, 'utf8')) as { dir: string; pid: number };
  if (existsSync(statePath(other.dir))) {
    const alive = Object.values(readState(other.dir).pids).some(isAlive);
    if (alive) {
      throw new Error(`another sre-quero node is running (state ${other.dir}): stop it first with \`npm run cluster:down\` (or wait for the test run that owns it)`);
    }
    // A crashed run: clean up after it before starting.
    stopCluster(other.dir);
  }
  rmSync(NODE_LOCK, { force: true });
}

export async function startCluster(options: StartOptions): Promise<ClusterState> {
  const log = options.log ?? (() => undefined);
  checkNoOtherNode();
  const n = options.subnet ?? 1;
  const dir = options.dir;
  mkdirSync(dir, { recursive: true });
  const state: ClusterState = {
    dir,
    version: options.version,
    node: `sq-node-${n}`,
    bridge: `sqbr${n}`,
    gateway: `10.244.${n}.1`,
    podCidr: `10.244.${n}.0/24`,
    serviceCidr: `10.96.${n}.0/24`,
    server: '',
    caFile: join(dir, 'pki', 'ca.crt'),
    kubeconfig: join(dir, 'kubeconfig'),
    adminToken: randomBytes(24).toString('hex'),
    containerdSocket: join(dir, 'containerd', 'containerd.sock'),
    lokiUrl: '',
    prometheusUrl: '',
    pids: {},
    sysctls: readSysctls(),
    globalPathsBefore: listPaths(),
  };
  writeState(state);
  writeFileSync(NODE_LOCK, JSON.stringify({ dir, pid: process.pid }));
  try {
    await startAll(state, options, log);
  } catch (error) {
    stopCluster(dir, { keepDir: true });
    throw error;
  }
  return state;
}

async function startAll(state: ClusterState, options: StartOptions, log: (line: string) => void): Promise<void> {
  const { dir, binaries } = options;
  const began = Date.now();
  const step = (what: string) => log(`cluster: ${what} (${((Date.now() - began) / 1000).toFixed(1)} s)`);

  createBridge(state.bridge, `${state.gateway}/24`);
  const serviceIp = state.serviceCidr.replace(/0\/24$/, '1');

  // Certificates: the API server's serving certificate names every address a
  // client uses (the gateway from the host and pods, the Service IP in-cluster).
  const pki = join(dir, 'pki');
  mkdirSync(pki, { recursive: true });
  const serving = makeCertificates({
    commonName: 'kube-apiserver',
    dnsNames: ['kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local', 'localhost'],
    ipAddresses: [state.gateway, serviceIp, '127.0.0.1'],
    validDays: 30,
  });
  writeFileSync(state.caFile, serving.caCert);
  writeFileSync(join(pki, 'apiserver.crt'), serving.cert);
  writeFileSync(join(pki, 'apiserver.key'), serving.key);
  const auth = writeApiserverAuth(pki, [{ user: 'sq-admin', token: state.adminToken, groups: ['system:masters'] }]);

  const [etcdPort, peerPort, apiPort, kubeletPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  startDetached(state, 'etcd', binaries.etcd, [...etcdArgs(join(dir, 'etcd'), etcdPort, peerPort), '--listen-metrics-urls', '']);

  state.server = `https://${state.gateway}:${apiPort}`;
  startDetached(state, 'kube-apiserver', binaries.apiserver, [
    `--etcd-servers=http://127.0.0.1:${etcdPort}`,
    `--bind-address=${state.gateway}`,
    `--advertise-address=${state.gateway}`,
    `--secure-port=${apiPort}`,
    `--tls-cert-file=${join(pki, 'apiserver.crt')}`,
    `--tls-private-key-file=${join(pki, 'apiserver.key')}`,
    ...auth.args,
    `--service-cluster-ip-range=${state.serviceCidr}`,
    // The API server calls webhooks and aggregated APIs at endpoint (pod) IPs.
    '--enable-aggregator-routing=true',
    '--kubelet-preferred-address-types=InternalIP',
  ]);
  await waitFor(state, 'kube-apiserver ready', 'kube-apiserver', async () => (await httpGet(`${state.server}/readyz`, { ca: serving.caCert, token: state.adminToken })).status === 200, 90_000);
  writeKubeconfig(state.kubeconfig, { name: 'sre-quero', server: state.server, caFile: state.caFile, token: state.adminToken, namespace: 'default' });
  writeState(state);
  step(`control plane v${options.version} serving at ${state.server}`);

  startDetached(state, 'kube-controller-manager', binaries.controllerManager, [
    `--kubeconfig=${state.kubeconfig}`,
    `--service-account-private-key-file=${auth.serviceAccountKey}`,
    `--root-ca-file=${state.caFile}`,
    '--leader-elect=false',
    '--secure-port=0',
  ]);
  startDetached(state, 'kube-scheduler', binaries.scheduler, [`--kubeconfig=${state.kubeconfig}`, '--leader-elect=false', '--secure-port=0']);

  const loki = lokiSetup(dir, state.gateway, await freePort(), await freePort());
  state.lokiUrl = loki.url;
  startDetached(state, 'loki', options.loki, loki.args);
  const prometheus = prometheusSetup(dir, state.gateway, await freePort(), { server: state.server, caFile: state.caFile, token: state.adminToken });
  state.prometheusUrl = prometheus.url;
  startDetached(state, 'prometheus', options.prometheus, prometheus.args);

  // containerd: its own root, state and sockets; OOM score adjustments are
  // refused on these VMs (no CAP_SYS_RESOURCE), so containerd must not ask.
  const cni = join(dir, 'cni');
  mkdirSync(join(cni, 'net.d'), { recursive: true });
  writeFileSync(
    join(cni, 'net.d', '10-sre-quero.conflist'),
    JSON.stringify({
      cniVersion: '1.0.0',
      name: state.bridge,
      plugins: [
        {
          type: 'bridge',
          bridge: state.bridge,
          isGateway: true,
          ipMasq: false,
          hairpinMode: true,
          ipam: { type: 'host-local', ranges: [[{ subnet: state.podCidr, gateway: state.gateway }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: join(cni, 'ipam') },
        },
      ],
    }),
  );
  const ctrd = join(dir, 'containerd');
  mkdirSync(ctrd, { recursive: true });
  writeFileSync(
    join(ctrd, 'config.toml'),
    `version = 2
root = "${join(ctrd, 'root')}"
state = "${join(ctrd, 'state')}"
[grpc]
  address = "${state.containerdSocket}"
[ttrpc]
  address = "${join(ctrd, 'containerd.sock.ttrpc')}"
[plugins."io.containerd.internal.v1.opt"]
  path = "${join(ctrd, 'opt')}"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${options.pauseImage}"
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  enable_unprivileged_ports = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "${join(cni, 'net.d')}"
`,
  );
  startDetached(state, 'containerd', 'containerd', ['--config', join(ctrd, 'config.toml')]);
  await waitFor(state, 'containerd socket', 'containerd', () => existsSync(state.containerdSocket), 30_000);
  for (const archive of options.images) {
    runChecked('ctr', ['--address', state.containerdSocket, '-n', 'k8s.io', 'images', 'import', '--no-unpack=false', archive]);
  }
  step(`containerd up, ${options.images.length} images imported`);

  const kubeletConfig = join(dir, 'kubelet-config.yaml');
  writeFileSync(
    kubeletConfig,
    JSON.stringify({
      apiVersion: 'kubelet.config.k8s.io/v1beta1',
      kind: 'KubeletConfiguration',
      address: state.gateway,
      port: kubeletPort,
      readOnlyPort: 0,
      healthzPort: 0,
      authentication: { anonymous: { enabled: true }, webhook: { enabled: false }, x509: {} },
      authorization: { mode: 'AlwaysAllow' },
      // cgroup v1 on these VMs: accepted with a warning (refused by default since 1.35).
      failCgroupV1: false,
      cgroupDriver: 'cgroupfs',
      failSwapOn: false,
      containerRuntimeEndpoint: `unix://${state.containerdSocket}`,
      resolvConf: '/etc/resolv.conf',
      podLogsDir: join(dir, 'pod-logs'),
      // Never garbage-collect the imported images nor evict test pods on a full disk.
      imageGCHighThresholdPercent: 100,
      imageGCLowThresholdPercent: 99,
      evictionHard: { 'memory.available': '1Mi', 'nodefs.available': '1%', 'nodefs.inodesFree': '1%', 'imagefs.available': '1%' },
      // The kubelet's own iptables chains would add a DROP rule to the host.
      makeIPTablesUtilChains: false,
      serializeImagePulls: false,
      shutdownGracePeriod: '0s',
    }),
  );
  startDetached(state, 'kubelet', binaries.kubelet, [
    `--config=${kubeletConfig}`,
    `--kubeconfig=${state.kubeconfig}`,
    `--root-dir=${join(dir, 'kubelet')}`,
    `--cert-dir=${join(dir, 'kubelet-pki')}`,
    `--hostname-override=${state.node}`,
    `--node-ip=${state.gateway}`,
  ]);

  const proxyConfig = join(dir, 'kube-proxy-config.yaml');
  writeFileSync(
    proxyConfig,
    JSON.stringify({
      apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
      kind: 'KubeProxyConfiguration',
      mode: 'nftables',
      clientConnection: { kubeconfig: state.kubeconfig },
      hostnameOverride: state.node,
      clusterCIDR: state.podCidr,
      bindAddress: state.gateway,
      healthzBindAddress: '',
      metricsBindAddress: '',
      nodePortAddresses: [`${state.gateway}/32`],
      // Leave the host's conntrack settings alone.
      conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: '0s', tcpCloseWaitTimeout: '0s' },
    }),
  );
  startDetached(state, 'kube-proxy', binaries.kubeProxy, [`--config=${proxyConfig}`]);

  const kubectl = (...args: string[]) => runChecked(binaries.kubectl, ['--kubeconfig', state.kubeconfig, ...args]);
  await waitFor(
    state,
    `Node ${state.node} Ready and untainted`,
    'kubelet',
    () => {
      const node = JSON.parse(kubectl('get', 'node', state.node, '-o', 'json', '--ignore-not-found') || '{}');
      const ready = node.status?.conditions?.some((c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True');
      return ready === true && !(node.spec?.taints ?? []).some((taint: { key: string }) => taint.key === 'node.kubernetes.io/not-ready');
    },
    90_000,
  );
  await waitFor(state, 'the default ServiceAccount', 'kube-controller-manager', () => kubectl('get', 'serviceaccount', 'default', '--ignore-not-found', '-o', 'name').trim() !== '', 60_000);
  step(`node ${state.node} Ready`);
  await waitFor(state, 'Loki ready', 'loki', async () => (await httpGet(`${state.lokiUrl}/ready`)).status === 200, 120_000);
  await waitFor(state, 'Prometheus ready', 'prometheus', async () => (await httpGet(`${state.prometheusUrl}/-/ready`)).status === 200, 60_000);
  step(`Loki at ${state.lokiUrl}, Prometheus at ${state.prometheusUrl}`);
}

/**
 * Stops everything a cluster started and undoes what it changed on the host:
 * processes (pods included), mounts, the bridge and veths, kube-proxy's
 * table, the pod cgroups, runtime files and log links, sysctls. Returns what it
 * did, for the caller's log.
 */
export function stopCluster(dir: string, options: { keepDir?: boolean } = {}): string[] {
  if (!existsSync(statePath(dir))) return [`no cluster state in ${dir}`];
  const state = readState(dir);
  const done: string[] = [];
  const kill = (pid: number, signal: NodeJS.Signals) => {
    try {
      process.kill(pid, signal);
    } catch {
      /* gone already */
    }
  };
  const stopProcesses = (...names: string[]) => {
    const running = names.filter((name) => state.pids[name] !== undefined && isAlive(state.pids[name] as number));
    terminate(running.map((name) => state.pids[name] as number));
    done.push(...running.map((name) => `stopped ${name}`));
  };
  // The node first, so nothing restarts the pods we kill.
  stopProcesses('kubelet', 'kube-proxy');
  // Shims, found by the containerd socket they serve.
  for (const pid of processesMentioning(state.containerdSocket)) kill(pid, 'SIGKILL');
  const pods = podProcesses();
  for (const pid of pods) kill(pid, 'SIGKILL');
  if (pods.length > 0) done.push(`killed ${pods.length} container processes`);
  stopProcesses('containerd', 'prometheus', 'loki', 'kube-scheduler', 'kube-controller-manager');
  stopProcesses('kube-apiserver');
  stopProcesses('etcd');
  spawnSync('sleep', ['0.3']);

  const unmounted = unmountBelow(dir);
  if (unmounted > 0) done.push(`unmounted ${unmounted} mounts`);
  deleteKubeProxyTables();
  deleteBridge(state.bridge);
  removePodCgroups();
  const removed = removeNewPaths(state.globalPathsBefore);
  if (removed > 0) done.push(`removed ${removed} runtime files and log links (/run/containerd, /var/log/containers)`);
  done.push(...restoreSysctls(state.sysctls).map((line) => `restored ${line}`));
  if (existsSync(NODE_LOCK) && (JSON.parse(readFileSync(NODE_LOCK, 'utf8')) as { dir: string }).dir === dir) rmSync(NODE_LOCK);
  // A failed start keeps its logs to read, not its state: it is stopped.
  if (options.keepDir) rmSync(statePath(dir), { force: true });
  else rmSync(dir, { recursive: true, force: true });
  return done;
}
