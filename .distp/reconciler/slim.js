import { ANNOTATIONS } from '../injection/index.js';
import { FIELD_MANAGER } from '../webhook-contract.js';
import { SERVICE_OPT_OUT_ANNOTATION } from './model.js';
function baseMeta(metadata) {
    if (metadata === undefined)
        return {};
    const { name, namespace, uid, resourceVersion } = metadata;
    return {
        ...(name === undefined ? {} : { name }),
        ...(namespace === undefined ? {} : { namespace }),
        ...(uid === undefined ? {} : { uid }),
        ...(resourceVersion === undefined ? {} : { resourceVersion }),
    };
}
/** Only the named annotations, or none. */
function someAnnotations(annotations, keys) {
    if (annotations === undefined)
        return {};
    const kept = {};
    let any = false;
    for (const key of keys) {
        const value = annotations[key];
        if (value !== undefined) {
            kept[key] = value;
            any = true;
        }
    }
    return any ? { annotations: kept } : {};
}
/** An injected pod: name, labels (Service selectors match them), the status annotation, creation and deletion times, its IP (sidecar reloads). */
export function slimPod(pod) {
    const metadata = pod.metadata;
    const podIP = pod.status?.podIP;
    return {
        metadata: {
            ...baseMeta(metadata),
            ...(metadata?.labels === undefined ? {} : { labels: metadata.labels }),
            ...someAnnotations(metadata?.annotations, [ANNOTATIONS.status]),
            ...(metadata?.creationTimestamp === undefined ? {} : { creationTimestamp: metadata.creationTimestamp }),
            ...(metadata?.deletionTimestamp === undefined || metadata.deletionTimestamp === null ? {} : { deletionTimestamp: metadata.deletionTimestamp }),
        },
        ...(podIP === undefined ? {} : { status: { podIP } }),
    };
}
/** A Service: its selector, type and ports, the opt-out annotation, and only our own field manager's entries of managedFields. */
export function slimService(service) {
    const metadata = service.metadata;
    const ours = metadata?.managedFields?.filter((entry) => entry.manager === FIELD_MANAGER && entry.operation === 'Apply');
    const spec = service.spec;
    return {
        metadata: {
            ...baseMeta(metadata),
            ...someAnnotations(metadata?.annotations, [SERVICE_OPT_OUT_ANNOTATION]),
            ...(ours === undefined || ours.length === 0 ? {} : { managedFields: ours.map(({ manager, operation, fieldsV1 }) => ({ manager, operation, fieldsV1 })) }),
        },
        ...(spec === undefined
            ? {}
            : {
                spec: {
                    ...(spec.type === undefined ? {} : { type: spec.type }),
                    ...(spec.clusterIP === undefined ? {} : { clusterIP: spec.clusterIP }),
                    ...(spec.selector === undefined ? {} : { selector: spec.selector }),
                    ...(spec.ports === undefined ? {} : { ports: spec.ports.map(({ name, port, protocol, targetPort }) => ({ name, port, protocol, targetPort })) }),
                },
            }),
    };
}
/** A ConfigMap: labels (managed-by) and data. */
export function slimConfigMap(configMap) {
    const metadata = configMap.metadata;
    return {
        metadata: { ...baseMeta(metadata), ...(metadata?.labels === undefined ? {} : { labels: metadata.labels }) },
        ...(configMap.data === undefined ? {} : { data: configMap.data }),
    };
}
//# sourceMappingURL=slim.js.map