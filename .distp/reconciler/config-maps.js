import { MANAGED_BY_LABEL, MANAGED_BY_VALUE } from '../webhook-contract.js';
/**
 * `existing` is the namespace's ConfigMap of that name, if any. Pods that name
 * their own ConfigMap (annotation config-map) never count: that one is the
 * team's and is never touched.
 */
export function planConfigMap(pods, configMapName, existing, template) {
    if (!pods.some((pod) => pod.configMap === configMapName))
        return { kind: 'none' };
    if (existing !== undefined && existing.metadata?.labels?.[MANAGED_BY_LABEL] !== MANAGED_BY_VALUE) {
        return { kind: 'conflict', message: `ConfigMap ${configMapName} exists and is not managed by sre-quero; it is left as it is` };
    }
    const data = { ...template };
    const current = existing?.data ?? {};
    const keys = Object.keys(data);
    // A key the template dropped goes too: the apply names every key, and the field manager owns them.
    const same = Object.keys(current).length === keys.length && keys.every((key) => current[key] === data[key]);
    return same ? { kind: 'none' } : { kind: 'apply', data };
}
//# sourceMappingURL=config-maps.js.map