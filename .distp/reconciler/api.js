import { CoreV1Api, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { apiErrorMessage, shareConnections, statusOf } from './kube.js';
import { FIELD_MANAGER, MANAGED_BY_LABEL, MANAGED_BY_VALUE } from '../webhook-contract.js';
import { INJECTED_SELECTOR } from './model.js';
const APPLY = setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply);
export const MANAGED_SELECTOR = `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}`;
/** `count(verb)` is told of every request (the reconciler's API request metric). */
export function clusterApi(kc, count) {
    const core = shareConnections(kc).makeApiClient(CoreV1Api);
    const write = async (call) => {
        count('apply');
        try {
            await call();
            return { ok: true };
        }
        catch (error) {
            const status = statusOf(error);
            // 409: another field manager owns what we would set; 404: deleted meanwhile; 422: e.g. our port was its last.
            if (status === 404 || status === 409 || status === 422)
                return { ok: false, status, message: apiErrorMessage(error) };
            throw error;
        }
    };
    const listed = (call) => (options) => {
        count('list');
        return call(options);
    };
    return {
        lists: {
            injectedPods: listed((page) => core.listPodForAllNamespaces({ labelSelector: INJECTED_SELECTOR, ...page })),
            services: listed((page) => core.listServiceForAllNamespaces(page)),
            managedConfigMaps: listed((page) => core.listConfigMapForAllNamespaces({ labelSelector: MANAGED_SELECTOR, ...page })),
            templates: (namespace, name) => listed((page) => core.listNamespacedConfigMap({ namespace, fieldSelector: `metadata.name=${name}`, ...page })),
        },
        writes: {
            applyServicePorts: (namespace, name, ports) => {
                const body = { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace }, ...(ports.length > 0 ? { spec: { ports } } : {}) };
                return write(() => core.patchNamespacedService({ name, namespace, body, fieldManager: FIELD_MANAGER, force: false }, APPLY));
            },
            applyConfigMap: (namespace, name, data) => {
                const body = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace, labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE } }, data };
                return write(() => core.patchNamespacedConfigMap({ name, namespace, body, fieldManager: FIELD_MANAGER, force: false }, APPLY));
            },
            readConfigMap: async (namespace, name) => {
                count('get');
                try {
                    return await core.readNamespacedConfigMap({ name, namespace });
                }
                catch (error) {
                    if (statusOf(error) === 404)
                        return undefined;
                    throw error;
                }
            },
            createEvent: async ({ kind, name, namespace, uid, message }) => {
                count('create');
                const now = new Date();
                await core
                    .createNamespacedEvent({
                    namespace,
                    body: {
                        metadata: { generateName: `${name}.sre-quero.`, namespace },
                        involvedObject: { apiVersion: 'v1', kind, name, namespace, ...(uid ? { uid } : {}) },
                        reason: 'LoggingSidecarConflict',
                        message: `sre-quero left this ${kind} alone: ${message}`,
                        type: 'Warning',
                        source: { component: 'sre-quero' },
                        firstTimestamp: now,
                        lastTimestamp: now,
                        count: 1,
                    },
                })
                    .catch((error) => {
                    throw new Error(apiErrorMessage(error));
                });
            },
        },
    };
}
//# sourceMappingURL=api.js.map