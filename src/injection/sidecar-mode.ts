import type { SidecarMode } from './settings.js';

// `auto` picks the sidecar mode from the kubelet versions of the nodes, as
// Istio does: native only where every node that may run the pod supports
// native sidecars as a stable feature. Pure: the versions come from a node
// informer at the edge (src/cluster/node-versions.ts), never an API call per
// review; without them (offline `inject`, informer not synced) it is classic.

/** Native sidecars (restartable init containers) are stable from this kubelet on. */
export const NATIVE_SIDECARS_STABLE = { major: 1, minor: 33 } as const;

/** What the injector knows of the cluster's nodes: kubelet version by node name. A value: never changed in place (a new object when a version changes), so what is worked out from it may be kept. */
export interface NodeFacts {
  kubeletVersions: ReadonlyMap<string, string>;
}

export type AutoModeReason = 'nodes_support_native' | 'node_too_old' | 'no_node_information';

export interface AutoModeChoice {
  mode: SidecarMode;
  reason: AutoModeReason;
}

/** `v1.33.2`, `v1.34.1-eks-6a1b2c`, `1.33` → {1, 33}; anything else undefined (treated as too old). */
export function parseKubeletVersion(version: string): { major: number; minor: number } | undefined {
  const match = /^v?(\d+)\.(\d+)(?:\.\d+)?(?:[-+].*)?$/.exec(version);
  return match ? { major: Number(match[1]), minor: Number(match[2]) } : undefined;
}

type Release = { readonly major: number; readonly minor: number };

const atLeast = (version: Release | undefined, release: Release): boolean =>
  version !== undefined && (version.major > release.major || (version.major === release.major && version.minor >= release.minor));

// The oldest kubelet of a NodeFacts value, worked out once per value: node
// facts are values (the node watch hands out a new object only when a
// version changes, src/cluster/node-facts.ts), and every injected pod asks
// (the preStop sleep, `auto`), so a review must not parse every node's
// version. undefined: some version cannot be read (counts as older than any).
const oldestKubelet = new WeakMap<NodeFacts, Release | undefined>();

function oldestOf(nodes: NodeFacts): Release | undefined {
  if (oldestKubelet.has(nodes)) return oldestKubelet.get(nodes);
  let oldest: Release | undefined;
  let readable = true;
  for (const version of nodes.kubeletVersions.values()) {
    const parsed = parseKubeletVersion(version);
    if (parsed === undefined) readable = false;
    else if (oldest === undefined || !atLeast(parsed, oldest)) oldest = parsed;
  }
  const result = readable ? oldest : undefined;
  oldestKubelet.set(nodes, result);
  return result;
}

/**
 * Whether every node that may run the pod runs a kubelet of `release` or
 * newer: the pod's node when it names one the informer knows (a pod created
 * with spec.nodeName), else every node. A version that cannot be read counts
 * as older. No node known: `unknown`.
 */
export function nodesAtLeast(nodes: NodeFacts | undefined, nodeName: string | undefined, release: Release): 'yes' | 'too_old' | 'unknown' {
  const versions = nodes?.kubeletVersions;
  if (nodes === undefined || versions === undefined || versions.size === 0) return 'unknown';
  const own = nodeName === undefined ? undefined : versions.get(nodeName);
  const candidate = own === undefined ? oldestOf(nodes) : parseKubeletVersion(own);
  return atLeast(candidate, release) ? 'yes' : 'too_old';
}

/** Native only where every node that may run the pod has them stable; classic otherwise. */
export function chooseAutoMode(nodes: NodeFacts | undefined, nodeName: string | undefined): AutoModeChoice {
  switch (nodesAtLeast(nodes, nodeName, NATIVE_SIDECARS_STABLE)) {
    case 'unknown':
      return { mode: 'classic', reason: 'no_node_information' };
    case 'too_old':
      return { mode: 'classic', reason: 'node_too_old' };
    case 'yes':
      return { mode: 'native', reason: 'nodes_support_native' };
  }
}
