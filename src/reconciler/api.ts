import { CoreV1Api, PatchStrategy, setHeaderOptions, type KubeConfig, type V1ConfigMap, type V1Namespace, type V1Pod, type V1Service } from '@kubernetes/client-node';
import { eventsApi, type EventsApi } from '../cluster/events-api.js';
import type { ConfigMapLike } from './config-maps.js';
import { apiErrorMessage, shareConnections, statusOf } from './kube.js';
import { FIELD_MANAGER, MANAGED_BY_LABEL, MANAGED_BY_VALUE } from '../webhook-contract.js';
import { INJECTION_NAMESPACE_SELECTOR } from './escaped-pods.js';
import { INJECTED_SELECTOR, RUNNING_SELECTOR, UNINJECTED_SELECTOR, type ServicePort } from './model.js';

// Every Kubernetes call the reconciler makes, built in one place from
// client-node. The reconcile logic sees only ReconcilerApi (unit tests pass a
// fake); the informers see only ListApi.

/** A write's outcome: done, or refused for a reason the reconciler reports rather than retries. */
export type WriteOutcome = { ok: true } | { ok: false; status: 404 | 409 | 422; message: string };

export interface ConflictEvent {
  kind: 'Service' | 'ConfigMap';
  name: string;
  namespace: string;
  uid?: string | undefined;
  message: string;
}

/** The writes and reads of a reconcile. Other failures (network, 5xx) reject, and the namespace is retried. */
export interface ReconcilerApi {
  /** Server-side apply of exactly these ports by our field manager; [] releases (and so removes) ours. */
  applyServicePorts(namespace: string, name: string, ports: readonly ServicePort[]): Promise<WriteOutcome>;
  /** Server-side apply of the managed ConfigMap. */
  applyConfigMap(namespace: string, name: string, data: Record<string, string>): Promise<WriteOutcome>;
  /** undefined when it does not exist. */
  readConfigMap(namespace: string, name: string): Promise<ConfigMapLike | undefined>;
  /** A Warning Event on the object left alone. */
  createEvent(event: ConflictEvent): Promise<void>;
}

/** One page of a list, as the informers page through it. */
export interface Page<T> {
  items: T[];
  metadata?: { resourceVersion?: string; _continue?: string };
}
export type ListPage<T> = (options: { limit: number; _continue?: string }) => Promise<Page<T>>;

export interface ListApi {
  injectedPods: ListPage<V1Pod>;
  /** Running pods without the injected label (escaped-pods report), everywhere; the informer keeps those of namespaces that ask for injection. */
  uninjectedRunningPods: ListPage<V1Pod>;
  /** Namespaces labelled logging.sre-quero/injection=enabled or enforced. */
  injectionNamespaces: ListPage<V1Namespace>;
  services: ListPage<V1Service>;
  managedConfigMaps: ListPage<V1ConfigMap>;
  /** The template ConfigMap, by name, in the reconciler's namespace. */
  templates(namespace: string, name: string): ListPage<V1ConfigMap>;
}

const APPLY = setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply);
export const MANAGED_SELECTOR = `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}`;

/** `count(verb)` is told of every request (the reconciler's API request metric). */
export function clusterApi(kc: KubeConfig, count: (verb: string) => void): { lists: ListApi; writes: ReconcilerApi; events: EventsApi } {
  const core = shareConnections(kc).makeApiClient(CoreV1Api);
  const write = async (call: () => Promise<unknown>): Promise<WriteOutcome> => {
    count('apply');
    try {
      await call();
      return { ok: true };
    } catch (error) {
      const status = statusOf(error);
      // 409: another field manager owns what we would set; 404: deleted meanwhile; 422: e.g. our port was its last.
      if (status === 404 || status === 409 || status === 422) return { ok: false, status, message: apiErrorMessage(error) };
      throw error;
    }
  };
  const listed = <T>(call: ListPage<T>): ListPage<T> => (options) => {
    count('list');
    return call(options) as Promise<Page<T>>;
  };
  return {
    events: eventsApi(kc, count),
    lists: {
      injectedPods: listed((page) => core.listPodForAllNamespaces({ labelSelector: INJECTED_SELECTOR, ...page })),
      uninjectedRunningPods: listed((page) => core.listPodForAllNamespaces({ labelSelector: UNINJECTED_SELECTOR, fieldSelector: RUNNING_SELECTOR, ...page })),
      injectionNamespaces: listed((page) => core.listNamespace({ labelSelector: INJECTION_NAMESPACE_SELECTOR, ...page })),
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
        } catch (error) {
          if (statusOf(error) === 404) return undefined;
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
          .catch((error: unknown) => {
            throw new Error(apiErrorMessage(error));
          });
      },
    },
  };
}
