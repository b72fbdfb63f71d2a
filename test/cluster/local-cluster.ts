import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { installSreQuero, repoRoot } from './install.js';
import { startCluster, stopCluster, type ClusterState } from './node-cluster.js';
import { findBinaries, K8S_VERSION, readProvisioned, type Provisioned } from './versions.js';

// One cluster with sre-quero installed: what `npm run cluster:up` starts for
// a person and what the test suite starts before its files run (same code).

/** Image names as provisioning builds them (test/cluster/build/images.sh). */
export const imageName = (archive: string): string => {
  const index = JSON.parse(spawnSync('tar', ['-xOf', archive, 'index.json'], { encoding: 'utf8', maxBuffer: 1 << 20 }).stdout) as {
    manifests: { annotations: Record<string, string> }[];
  };
  const name = index.manifests[0]?.annotations['io.containerd.image.name'];
  if (!name) throw new Error(`${archive} names no image`);
  return name;
};

/** Runs provision.sh (progress on stderr) and reads its manifest. */
export function provision(): Provisioned {
  // provision.sh drops the test runner's Node hooks itself (they are re-added
  // to any child's environment while tap runs).
  const result = spawnSync('bash', [join(repoRoot, 'test/cluster/provision.sh')], { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
  const provisioned = result.status === 0 ? readProvisioned() : undefined;
  if (provisioned === undefined) throw new Error(`provisioning failed (exit ${result.status}); its messages are above`);
  return provisioned;
}

export interface LocalCluster {
  state: ClusterState;
  provisioned: Provisioned;
  kubectl: string;
  promtailImage: string;
  alloyImage: string;
  busyboxImage: string;
}

export async function upWithSreQuero(dir: string, log: (line: string) => void, subnet = 1): Promise<LocalCluster> {
  const began = Date.now();
  const provisioned = provision();
  const binaries = findBinaries({ ...process.env, SRE_QUERO_K8S_BIN: provisioned.bin });
  if (binaries === undefined) throw new Error(`provisioning left an incomplete ${provisioned.bin}`);
  const images = provisioned.images;
  const state = await startCluster({
    dir,
    binaries,
    version: K8S_VERSION,
    images: [images.pause, images.busybox, images.promtail, images.alloy, images.sreQuero],
    pauseImage: imageName(images.pause),
    loki: provisioned.loki,
    prometheus: provisioned.prometheus,
    subnet,
    log,
  });
  const promtailImage = imageName(images.promtail);
  const alloyImage = imageName(images.alloy);
  try {
    installSreQuero({ kubectl: binaries.kubectl, kubeconfig: state.kubeconfig, workdir: dir, promtailImage, alloyImage, lokiPushUrl: `${state.lokiUrl}/loki/api/v1/push` });
  } catch (error) {
    stopCluster(dir);
    throw error;
  }
  log(`cluster: sre-quero installed; up in ${((Date.now() - began) / 1000).toFixed(1)} s`);
  return { state, provisioned, kubectl: binaries.kubectl, promtailImage, alloyImage, busyboxImage: imageName(images.busybox) };
}

export const isUp = (dir: string): boolean => existsSync(join(dir, 'state.json'));
