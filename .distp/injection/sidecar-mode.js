// `auto` picks the sidecar mode from the kubelet versions of the nodes, as
// Istio does: native only where every node that may run the pod supports
// native sidecars as a stable feature. Pure: the versions come from a node
// informer at the edge (src/cluster/node-versions.ts), never an API call per
// review; without them (offline `inject`, informer not synced) it is classic.
/** Native sidecars (restartable init containers) are stable from this kubelet on. */
export const NATIVE_SIDECARS_STABLE = { major: 1, minor: 33 };
/** `v1.33.2`, `v1.34.1-eks-6a1b2c`, `1.33` → {1, 33}; anything else undefined (treated as too old). */
export function parseKubeletVersion(version) {
    const match = /^v?(\d+)\.(\d+)(?:\.\d+)?(?:[-+].*)?$/.exec(version);
    return match ? { major: Number(match[1]), minor: Number(match[2]) } : undefined;
}
const supportsNative = (version) => {
    const parsed = parseKubeletVersion(version);
    if (parsed === undefined)
        return false;
    const { major, minor } = NATIVE_SIDECARS_STABLE;
    return parsed.major > major || (parsed.major === major && parsed.minor >= minor);
};
/**
 * The pod's node when it names one the informer knows (a pod created with
 * spec.nodeName), else every node: any node older than the cut-off, or one
 * whose version cannot be read, means classic.
 */
export function chooseAutoMode(nodes, nodeName) {
    const versions = nodes?.kubeletVersions;
    if (versions === undefined || versions.size === 0)
        return { mode: 'classic', reason: 'no_node_information' };
    const own = nodeName === undefined ? undefined : versions.get(nodeName);
    const candidates = own === undefined ? versions.values() : [own];
    for (const version of candidates)
        if (!supportsNative(version))
            return { mode: 'classic', reason: 'node_too_old' };
    return { mode: 'native', reason: 'nodes_support_native' };
}
//# sourceMappingURL=sidecar-mode.js.map