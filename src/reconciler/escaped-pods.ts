import { controllerRef, type ObjectRef } from '../cluster/owners.js';
import { ANNOTATIONS, hasStatus, NAMESPACE_LABEL, readStatus, resolveOptions, type InjectorSettings } from '../injection/index.js';
import { parseBoolean } from '../injection/values.js';
import type { PodLike } from './model.js';

// "Pods that escaped": running pods that lack the sidecar in a namespace that
// asks for it (created before the label or the install, while the webhook
// was unreachable, or in a race), and injected pods that run another agent or
// image than the settings give now. Pure: the reconciler runs it on its
// caches, `sre-quero explain cluster` on what it lists. Nothing here restarts
// anything; the owner does, when a person decides to.

export const ESCAPE_REASONS = ['missing_sidecar', 'outdated_agent', 'outdated_image'] as const;
export type EscapeReason = (typeof ESCAPE_REASONS)[number];

/** The namespace labels that make the webhook inject every pod. */
export type InjectionMode = 'enabled' | 'enforced';
export const INJECTION_MODES: readonly InjectionMode[] = ['enabled', 'enforced'];
/** The namespaces whose pods count as escaped when they lack the sidecar (list and watch selector). */
export const INJECTION_NAMESPACE_SELECTOR = `${NAMESPACE_LABEL} in (${INJECTION_MODES.join(',')})`;

/** Never sent to the webhook, whatever their labels (deploy/base/webhooks.yaml): nothing there escaped. */
export const neverInjected = (namespace: string, installNamespace: string): boolean => namespace === 'kube-system' || namespace === installNamespace;

export function injectionModeOf(labels: Readonly<Record<string, string>> | undefined): InjectionMode | undefined {
  const value = labels?.[NAMESPACE_LABEL];
  return value === 'enabled' || value === 'enforced' ? value : undefined;
}

export interface Escape {
  reason: EscapeReason;
  /** What is wrong, in words: the Event's message and explain's line start with it. */
  detail: string;
}

export interface EscapedPod extends Escape {
  name: string;
  namespace: string;
  uid?: string;
  /** Its controller (a ReplicaSet, a Job...), undefined for a bare pod. */
  owner?: ObjectRef;
}

/**
 * Why this pod escaped, or undefined. `mode` is its namespace's label
 * (undefined: the namespace does not ask for every pod, so only an injected
 * pod's image and agent are checked).
 */
export function escapeOf(pod: PodLike, mode: InjectionMode | undefined, settings: InjectorSettings): Escape | undefined {
  const metadata = pod.metadata;
  if (metadata?.name === undefined || metadata.deletionTimestamp || pod.status?.phase !== 'Running') return undefined;
  // Static pods: the kubelet owns them, no rollout replaces them.
  if (metadata.ownerReferences?.some((ref) => ref.kind === 'Node')) return undefined;
  const annotations = metadata.annotations ?? {};
  if (!hasStatus(annotations)) {
    if (mode === undefined || pod.spec?.os?.name === 'windows') return undefined;
    const asked = annotations[ANNOTATIONS.sidecar];
    const parsed = asked === undefined ? undefined : parseBoolean(asked);
    // An opt-out is honoured in enabled namespaces only; enforced ones inject regardless.
    if (mode === 'enabled' && parsed?.ok === true && !parsed.value) return undefined;
    return {
      reason: 'missing_sidecar',
      detail: `runs without the logging sidecar that its namespace asks for (${NAMESPACE_LABEL}=${mode}): it was created before the label or the install, or while the webhook was unreachable`,
    };
  }
  const status = readStatus(annotations);
  // What the webhook would give this pod now; a pod it would refuse now is for explain, not this report.
  const today = resolveOptions(annotations, settings);
  if ('kind' in today) return undefined;
  if (today.agent !== status.agent) {
    return { reason: 'outdated_agent', detail: `runs the ${status.agent} sidecar; the settings give ${today.agent} now` };
  }
  if (status.image !== undefined && status.image !== today.image) {
    return { reason: 'outdated_image', detail: `runs the sidecar image ${status.image}; the settings give ${today.image} now` };
  }
  return undefined;
}

/** The escaped pods among these, in their order. */
export function escapedPods(pods: Iterable<PodLike>, mode: InjectionMode | undefined, settings: InjectorSettings): EscapedPod[] {
  const found: EscapedPod[] = [];
  for (const pod of pods) {
    const escape = escapeOf(pod, mode, settings);
    if (escape === undefined) continue;
    const metadata = pod.metadata as NonNullable<PodLike['metadata']> & { name: string };
    const owner = controllerRef(metadata.ownerReferences);
    found.push({
      name: metadata.name,
      namespace: metadata.namespace ?? '',
      ...(metadata.uid ? { uid: metadata.uid } : {}),
      ...(owner ? { owner } : {}),
      ...escape,
    });
  }
  return found;
}
