import { ANNOTATIONS, NAMESPACE_LABEL } from '../injection/index.js';
import type { ConfigMapLike } from './config-maps.js';
import { FIELD_MANAGER } from '../webhook-contract.js';
import { SERVICE_OPT_OUT_ANNOTATION, type ObjectMeta, type PodLike, type ServiceLike } from './model.js';

// What the informer caches keep of each object: only the fields the
// reconciler reads (and resourceVersion, which the watch resumes from). A pod
// from the API is mostly spec, status and managedFields the reconciler never
// looks at; kept whole, 5,000 of them cost ~150 MiB (bench/reconciler.ts).
// Applied to every listed and watched object before it is cached. Pure.

type Meta = ObjectMeta & { resourceVersion?: string };
type WithMeta = { metadata?: Meta };

function baseMeta(metadata: Meta | undefined): Meta {
  if (metadata === undefined) return {};
  const { name, namespace, uid, resourceVersion } = metadata;
  return {
    ...(name === undefined ? {} : { name }),
    ...(namespace === undefined ? {} : { namespace }),
    ...(uid === undefined ? {} : { uid }),
    ...(resourceVersion === undefined ? {} : { resourceVersion }),
  };
}

/** Only the named annotations, or none. */
function someAnnotations(annotations: Record<string, string> | undefined, keys: readonly string[]): { annotations?: Record<string, string> } {
  if (annotations === undefined) return {};
  const kept: Record<string, string> = {};
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

/** Only the controller's reference (kind and name are what an owner is found by), or none. */
function controllerOnly(references: ObjectMeta['ownerReferences']): { ownerReferences?: ObjectMeta['ownerReferences'] } {
  const chosen = references?.find((ref) => ref.controller === true) ?? references?.[0];
  if (chosen === undefined) return {};
  const { apiVersion, kind, name } = chosen;
  return { ownerReferences: [{ ...(apiVersion === undefined ? {} : { apiVersion }), ...(kind === undefined ? {} : { kind }), ...(name === undefined ? {} : { name }), controller: true }] };
}

/** What escaped-pods.ts reads of a pod: deletion, owner, phase, Windows, and the annotations the decision reads. */
function escapeFacts(pod: PodLike & WithMeta, annotationKeys: readonly string[]): PodLike & WithMeta {
  const metadata = pod.metadata;
  const phase = pod.status?.phase;
  return {
    metadata: {
      ...baseMeta(metadata),
      ...someAnnotations(metadata?.annotations, annotationKeys),
      ...(metadata?.deletionTimestamp === undefined || metadata.deletionTimestamp === null ? {} : { deletionTimestamp: metadata.deletionTimestamp }),
      ...controllerOnly(metadata?.ownerReferences),
    },
    ...(phase === undefined ? {} : { status: { phase } }),
    ...(pod.spec?.os?.name === 'windows' ? { spec: { os: { name: 'windows' } } } : {}),
  };
}

/**
 * An injected pod: name, labels (Service selectors match them), the status
 * annotation, creation and deletion times, its IP (sidecar reloads); and for
 * the escaped-pods report its phase, controller and the agent and image
 * annotations (whether its sidecar is still what the settings give).
 */
export function slimPod(pod: PodLike & WithMeta): PodLike & WithMeta {
  const facts = escapeFacts(pod, [ANNOTATIONS.status, ANNOTATIONS.agent, ANNOTATIONS.image]);
  const metadata = pod.metadata;
  const podIP = pod.status?.podIP;
  return {
    ...facts,
    metadata: {
      ...facts.metadata,
      ...(metadata?.labels === undefined ? {} : { labels: metadata.labels }),
      ...(metadata?.creationTimestamp === undefined ? {} : { creationTimestamp: metadata.creationTimestamp }),
    },
    ...(podIP === undefined && facts.status === undefined ? {} : { status: { ...facts.status, ...(podIP === undefined ? {} : { podIP }) } }),
  };
}

/**
 * A running pod without the injected label, in a namespace that asks for
 * every pod: only what tells whether it escaped (no labels, no IP); the
 * opt-out annotation, and the status a hand-labelled pod may carry.
 */
export function slimUninjectedPod(pod: PodLike & WithMeta): PodLike & WithMeta {
  return escapeFacts(pod, [ANNOTATIONS.sidecar, ANNOTATIONS.status, ANNOTATIONS.agent, ANNOTATIONS.image]);
}

/** A namespace: its name and the injection label's value. */
export function slimNamespace(namespace: WithMeta): WithMeta {
  const metadata = namespace.metadata;
  const value = metadata?.labels?.[NAMESPACE_LABEL];
  return { metadata: { ...baseMeta(metadata), ...(value === undefined ? {} : { labels: { [NAMESPACE_LABEL]: value } }) } };
}

/** A Service: its selector, type and ports, the opt-out annotation, and only our own field manager's entries of managedFields. */
export function slimService(service: ServiceLike & WithMeta): ServiceLike & WithMeta {
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
export function slimConfigMap(configMap: ConfigMapLike & WithMeta): ConfigMapLike & WithMeta {
  const metadata = configMap.metadata;
  return {
    metadata: { ...baseMeta(metadata), ...(metadata?.labels === undefined ? {} : { labels: metadata.labels }) },
    ...(configMap.data === undefined ? {} : { data: configMap.data }),
  };
}
