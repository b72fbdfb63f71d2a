import { AppsV1Api, BatchV1Api, CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { apiErrorMessage, shareConnections } from '../reconciler/kube.js';
import type { ObjectRef, OwnedKind, OwnerReads } from './owners.js';
import { controllerRef } from './owners.js';

// The two cluster calls that telling a person about a pod takes, built from
// client-node in one place: an Event on an object, and the owner of a
// ReplicaSet or Job (owners.ts). The webhook (refusal events) and the
// reconciler (escaped pods) use them; RBAC grants exactly these: events
// create, replicasets and jobs get.

export interface ObjectEvent {
  namespace: string;
  involvedObject: ObjectRef;
  type: 'Warning' | 'Normal';
  /** CamelCase, what `kubectl get events --field-selector reason=...` filters on. */
  reason: string;
  message: string;
}

export interface EventsApi extends OwnerReads {
  /** Creates the Event; rejects with the API server's message. */
  recordEvent(event: ObjectEvent): Promise<void>;
}

/** Kubernetes keeps an Event's message short (events.k8s.io: 1 KiB); longer ones are cut, not refused. */
const MESSAGE_LIMIT = 1024;

/** `count(verb)` is told of each request (get, create). */
export function eventsApi(kc: KubeConfig, count: (verb: string) => void = () => {}): EventsApi {
  shareConnections(kc);
  const core = kc.makeApiClient(CoreV1Api);
  const apps = kc.makeApiClient(AppsV1Api);
  const batch = kc.makeApiClient(BatchV1Api);
  const read = (kind: OwnedKind, namespace: string, name: string) =>
    kind === 'ReplicaSet' ? apps.readNamespacedReplicaSet({ namespace, name }) : batch.readNamespacedJob({ namespace, name });
  return {
    controllerOf: async (kind, namespace, name) => {
      count('get');
      try {
        return controllerRef((await read(kind, namespace, name)).metadata?.ownerReferences);
      } catch (error) {
        throw new Error(`reading ${kind} ${namespace}/${name}: ${apiErrorMessage(error)}`);
      }
    },
    recordEvent: async ({ namespace, involvedObject, type, reason, message }) => {
      count('create');
      const now = new Date();
      const { apiVersion, kind, name, uid } = involvedObject;
      try {
        await core.createNamespacedEvent({
          namespace,
          body: {
            metadata: { generateName: `${name.slice(0, 200)}.sre-quero.`, namespace },
            involvedObject: { apiVersion, kind, name, namespace, ...(uid ? { uid } : {}) },
            reason,
            message: message.length > MESSAGE_LIMIT ? `${message.slice(0, MESSAGE_LIMIT - 1)}…` : message,
            type,
            source: { component: 'sre-quero' },
            firstTimestamp: now,
            lastTimestamp: now,
            count: 1,
          },
        });
      } catch (error) {
        throw new Error(apiErrorMessage(error));
      }
    },
  };
}
