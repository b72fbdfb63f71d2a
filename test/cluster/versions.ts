import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

// The one place that pins what the real-cluster suite runs. provision.sh
// reads the same numbers (it greps this file), so the two cannot drift.

export const K8S_VERSION = '1.37.2';
export const ETCD_VERSION = '3.6.8';
/** The newest v3.6 source tag (promtail's last line); the injected default image is older (see src/injection/settings.ts). */
export const PROMTAIL_VERSION = '3.6.15';
/**
 * The newest Loki whose dependencies the Go module proxy serves in full:
 * v3.6.15's replace of thanos-io/objstore points at a grafana/objstore
 * pseudo-version the proxy refuses (403), which cmd/loki needs.
 */
export const LOKI_VERSION = '3.7.8';
export const PROMETHEUS_VERSION = '3.16.0';
/** Grafana Alloy, promtail's successor: the newest release the Go module proxy serves (build/alloy.sh). */
export const ALLOY_VERSION = '1.19.2';
/**
 * The Helm CLI the chart tests and the Helm install run (build/helm.sh): Helm 4,
 * the current major, whose module (go 1.26.0) builds with the Go here.
 */
export const HELM_VERSION = '4.3.1';

export const cacheRoot = (env: NodeJS.ProcessEnv = process.env): string =>
  env.SRE_QUERO_CACHE ?? join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'sre-quero');

/** What provision.sh built, as the manifest it writes names it. */
export interface Provisioned {
  kubernetes: string;
  etcd: string;
  bin: string;
  loki: string;
  promtail: string;
  prometheus: string;
  promtool: string;
  alloy: string;
  helm: string;
  images: { pause: string; busybox: string; promtail: string; alloy: string; sreQuero: string };
}

/** The manifest provision.sh writes last (same cache root as its CACHE_ROOT), or undefined before any provisioning. */
export function readProvisioned(env: NodeJS.ProcessEnv = process.env): Provisioned | undefined {
  const manifest = join(cacheRoot(env), 'provisioned.json');
  return existsSync(manifest) ? (JSON.parse(readFileSync(manifest, 'utf8')) as Provisioned) : undefined;
}

export interface Binaries {
  dir: string;
  apiserver: string;
  controllerManager: string;
  scheduler: string;
  kubelet: string;
  kubeProxy: string;
  kubectl: string;
  etcd: string;
}

export const ENABLE_HINT =
  `real-cluster suite not run: no Kubernetes v${K8S_VERSION} build found; enable it with \`bash test/cluster/provision.sh\` ` +
  '(as root, ~25 min once on 2 cores, cached) or set SRE_QUERO_K8S_BIN to a directory holding the components and etcd';

/**
 * The helm binary provisioning builds ($CACHE_ROOT/helm-v<HELM_VERSION>/helm,
 * as the manifest names it), whether or not it is there yet.
 */
export const helmPath = (env: NodeJS.ProcessEnv = process.env): string => readProvisioned(env)?.helm ?? join(cacheRoot(env), `helm-v${HELM_VERSION}`, 'helm');

export const HELM_HINT = (path: string): string =>
  `no Helm v${HELM_VERSION} at ${path}: build it with \`bash test/cluster/build/helm.sh ${HELM_VERSION} ${dirname(path)}\` ` +
  '(about 7 min once on 2 cores, peak 1 GB), or run `bash test/cluster/provision.sh`, which builds it with the rest';

/** The binaries provision.sh built, or undefined when this machine has not been provisioned. */
export function findBinaries(env: NodeJS.ProcessEnv = process.env): Binaries | undefined {
  const dir = env.SRE_QUERO_K8S_BIN ?? join(cacheRoot(env), `k8s-v${K8S_VERSION}`, 'bin');
  const binaries: Binaries = {
    dir,
    apiserver: join(dir, 'kube-apiserver'),
    controllerManager: join(dir, 'kube-controller-manager'),
    scheduler: join(dir, 'kube-scheduler'),
    kubelet: join(dir, 'kubelet'),
    kubeProxy: join(dir, 'kube-proxy'),
    kubectl: join(dir, 'kubectl'),
    etcd: join(dir, 'etcd'),
  };
  const { dir: _dir, ...files } = binaries;
  return Object.values(files).every((file) => existsSync(file)) ? binaries : undefined;
}

/** CI sets this so a missing cluster fails the run instead of skipping the suite. */
export const clusterRequired = (env: NodeJS.ProcessEnv = process.env): boolean => env.SRE_QUERO_REQUIRE_CLUSTER === '1';

/** Whether `path` is a file this process may run (a provisioned binary). */
export function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
