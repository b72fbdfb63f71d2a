import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, lstatSync, readdirSync, readFileSync, rmdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

// What a real node changes on the host, and how each change is undone. Every
// function here is safe to call twice and on a half-started node, since
// teardown runs after crashes too.

const run = (command: string, args: string[]) => spawnSync(command, args, { encoding: 'utf8' });

/** The sysctls the kubelet, the CNI bridge and kube-proxy may set (real-node.md). */
const TOUCHED_SYSCTLS = [
  'net.ipv4.ip_forward',
  'vm.overcommit_memory',
  'vm.panic_on_oom',
  'kernel.panic',
  'kernel.panic_on_oops',
  'kernel.keys.root_maxkeys',
  'kernel.keys.root_maxbytes',
  'net.ipv4.conf.all.route_localnet',
];

const sysctlFile = (key: string) => join('/proc/sys', ...key.split('.'));

export function readSysctls(keys: readonly string[] = TOUCHED_SYSCTLS): Record<string, string> {
  const values: Record<string, string> = {};
  for (const key of keys) if (existsSync(sysctlFile(key))) values[key] = readFileSync(sysctlFile(key), 'utf8').trim();
  return values;
}

export function restoreSysctls(values: Record<string, string>): string[] {
  const restored: string[] = [];
  for (const [key, value] of Object.entries(values)) {
    const now = existsSync(sysctlFile(key)) ? readFileSync(sysctlFile(key), 'utf8').trim() : value;
    if (now === value) continue;
    run('sysctl', ['-q', '-w', `${key}=${value}`]);
    restored.push(`${key}=${value} (was ${now})`);
  }
  return restored;
}

/** A bridge holding the gateway address, made before the API server binds to it. */
export function createBridge(name: string, gatewayCidr: string): void {
  if (run('ip', ['link', 'show', name]).status === 0) throw new Error(`network link ${name} already exists: another cluster (or a leftover) is using it`);
  execFileSync('ip', ['link', 'add', name, 'type', 'bridge']);
  execFileSync('ip', ['addr', 'add', gatewayCidr, 'dev', name]);
  execFileSync('ip', ['link', 'set', name, 'up']);
}

/** Deletes the bridge and any veth still attached to it. */
export function deleteBridge(name: string): void {
  const attached = run('ip', ['-o', 'link', 'show', 'master', name]).stdout ?? '';
  for (const line of attached.split('\n')) {
    const veth = /^\d+: ([^@:]+)/.exec(line)?.[1];
    if (veth) run('ip', ['link', 'delete', veth]);
  }
  run('ip', ['link', 'delete', name]);
}

/** Unmounts everything below `dir`, deepest first (pod volumes, rootfs overlays, shm, netns, the kubelet's bind mount). */
export function unmountBelow(dir: string): number {
  let count = 0;
  for (let pass = 0; pass < 5; pass++) {
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .map((line) => line.split(' ')[4]?.replace(/\\040/g, ' '))
      .filter((point): point is string => point !== undefined && (point === dir || point.startsWith(`${dir}/`)))
      .sort((a, b) => b.length - a.length);
    if (mounts.length === 0) break;
    for (const point of mounts) {
      if (run('umount', [point]).status !== 0) run('umount', ['-l', point]);
      count++;
    }
  }
  return count;
}

const CGROUP_ROOT = '/sys/fs/cgroup';

/** Every process in the kubelet's pod cgroups (container processes outlive a killed shim). */
export function podProcesses(): number[] {
  const pids = new Set<number>();
  const walk = (dir: string) => {
    if (!existsSync(dir)) return;
    const procs = join(dir, 'cgroup.procs');
    if (existsSync(procs)) for (const pid of readFileSync(procs, 'utf8').split('\n').filter(Boolean)) pids.add(Number(pid));
    for (const entry of readdirSync(dir, { withFileTypes: true })) if (entry.isDirectory()) walk(join(dir, entry.name));
  };
  walk(join(CGROUP_ROOT, 'pids', 'kubepods'));
  walk(join(CGROUP_ROOT, 'memory', 'kubepods'));
  return [...pids];
}

/** Removes the kubelet's (empty) pod cgroups in every v1 hierarchy. */
export function removePodCgroups(): void {
  if (!existsSync(CGROUP_ROOT)) return;
  const removeTree = (dir: string) => {
    if (!existsSync(dir)) return;
    for (const entry of readdirSync(dir, { withFileTypes: true })) if (entry.isDirectory()) removeTree(join(dir, entry.name));
    try {
      rmdirSync(dir);
    } catch {
      /* busy: a process is still in it; reported by the caller's leftovers check */
    }
  };
  for (const controller of readdirSync(CGROUP_ROOT)) removeTree(join(CGROUP_ROOT, controller, 'kubepods'));
}

/** kube-proxy's nftables tables (its own, named kube-proxy). */
export function deleteKubeProxyTables(): void {
  for (const family of ['ip', 'ip6']) run('nft', ['delete', 'table', family, 'kube-proxy']);
}

/**
 * Host paths the node writes outside its own directory: containerd 1.6 keeps
 * shim sockets, fifos and runc state under /run/containerd whatever its
 * state dir, and the kubelet links container logs in /var/log/containers.
 */
export const GLOBAL_PATHS = ['/run/containerd', '/var/log/containers'];

/** Every path below (and including) the roots that exists now. */
export function listPaths(roots: readonly string[] = GLOBAL_PATHS): string[] {
  const found: string[] = [];
  const walk = (path: string) => {
    let isDir = false;
    try {
      isDir = lstatSync(path).isDirectory();
    } catch {
      return;
    }
    found.push(path);
    if (isDir) for (const entry of readdirSync(path)) walk(join(path, entry));
  };
  roots.forEach(walk);
  return found;
}

/** Removes what appeared below the roots since `before` was listed, deepest first. */
export function removeNewPaths(before: readonly string[], roots: readonly string[] = GLOBAL_PATHS): number {
  const old = new Set(before);
  const fresh = listPaths(roots).filter((path) => !old.has(path)).sort((a, b) => b.length - a.length);
  for (const path of fresh) rmSync(path, { recursive: true, force: true });
  return fresh.length;
}

/** Processes whose command line mentions `needle` (e.g. the shims of one containerd, by its socket path). */
export function processesMentioning(needle: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(needle)) pids.push(Number(entry));
    } catch {
      /* gone */
    }
  }
  return pids;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
