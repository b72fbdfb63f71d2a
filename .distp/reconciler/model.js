import { INJECTED_LABEL, LAYOUT, readStatus } from '../injection/index.js';
import { FIELD_MANAGER } from '../webhook-contract.js';
// What the reconciler needs to know about pods, Services and ConfigMaps, read
// from the API objects. Pure: no client, no I/O.
/** `logging.sre-quero/service-port: "false"` on a Service: leave its ports alone. */
export const SERVICE_OPT_OUT_ANNOTATION = 'logging.sre-quero/service-port';
export const INJECTED_SELECTOR = `${INJECTED_LABEL}=true`;
/** Reads an injected pod's labels and the status annotation the webhook wrote. */
export function readInjectedPod(pod, defaults) {
    const metadata = pod.metadata;
    if (metadata?.name === undefined || metadata.deletionTimestamp)
        return undefined;
    const labels = metadata.labels ?? {};
    if (labels[INJECTED_LABEL] !== 'true')
        return undefined;
    // A hand-edited or partial status falls back to the defaults rather than drop the pod.
    const status = readStatus(metadata.annotations);
    const created = metadata.creationTimestamp === undefined ? NaN : new Date(metadata.creationTimestamp).getTime();
    return {
        name: metadata.name,
        ...(metadata.uid ? { uid: metadata.uid } : {}),
        ...(pod.status?.podIP ? { ip: pod.status.podIP } : {}),
        ...(Number.isNaN(created) ? {} : { createdAt: created }),
        labels,
        agent: status.agent,
        metricsPort: status.metricsPort ?? defaults.metricsPort,
        configMap: status.configMap ?? defaults.configMap,
    };
}
export const selects = (selector, labels) => Object.entries(selector).every(([key, value]) => labels[key] === value);
/**
 * The port keys (`{"port":N,"protocol":"TCP"}`) that our field manager owns on
 * this Service, from managedFields: only those are ours to change or remove.
 */
export function portsWeOwn(service) {
    const owned = [];
    for (const entry of service.metadata?.managedFields ?? []) {
        if (entry.manager !== FIELD_MANAGER || entry.operation !== 'Apply')
            continue;
        const ports = entry.fieldsV1?.['f:spec']?.['f:ports'] ?? {};
        for (const key of Object.keys(ports)) {
            if (!key.startsWith('k:'))
                continue;
            try {
                const parsed = JSON.parse(key.slice(2));
                if (typeof parsed.port === 'number')
                    owned.push({ port: parsed.port, protocol: typeof parsed.protocol === 'string' ? parsed.protocol : 'TCP' });
            }
            catch {
                // not a key we wrote
            }
        }
    }
    return owned;
}
export { LAYOUT };
//# sourceMappingURL=model.js.map