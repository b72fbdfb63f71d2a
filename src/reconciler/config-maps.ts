import { MANAGED_BY_LABEL, MANAGED_BY_VALUE } from '../webhook-contract.js';
import type { InjectedPod, ObjectMeta } from './model.js';

// Decides whether a namespace needs the managed promtail ConfigMap. Pure.

export interface ConfigMapLike {
  metadata?: ObjectMeta;
  data?: Record<string, string>;
}

export type ConfigMapPlan =
  | { kind: 'apply'; data: Record<string, string> }
  | { kind: 'none' }
  | { kind: 'conflict'; message: string };

export interface Template {
  key: string;
  content: string;
}

/**
 * `existing` is the namespace's ConfigMap of that name, if any. Pods that name
 * their own ConfigMap (annotation config-map) never count: that one is the
 * team's and is never touched.
 */
export function planConfigMap(pods: readonly InjectedPod[], configMapName: string, existing: ConfigMapLike | undefined, template: Template): ConfigMapPlan {
  if (!pods.some((pod) => pod.configMap === configMapName)) return { kind: 'none' };
  if (existing !== undefined && existing.metadata?.labels?.[MANAGED_BY_LABEL] !== MANAGED_BY_VALUE) {
    return { kind: 'conflict', message: `ConfigMap ${configMapName} exists and is not managed by sre-quero; it is left as it is` };
  }
  const data = { [template.key]: template.content };
  const current = existing?.data ?? {};
  const same = Object.keys(current).length === 1 && current[template.key] === template.content;
  return same ? { kind: 'none' } : { kind: 'apply', data };
}
