import { INJECTED_LABEL, LAYOUT, readStatus, type Agent } from '../injection/index.js';
import { FIELD_MANAGER } from '../webhook-contract.js';

// What the reconciler needs to know about pods, Services and ConfigMaps, read
// from the API objects. Pure: no client, no I/O.

/** `logging.sre-quero/service-port: "false"` on a Service: leave its ports alone. */
export const SERVICE_OPT_OUT_ANNOTATION = 'logging.sre-quero/service-port';
export const INJECTED_SELECTOR = `${INJECTED_LABEL}=true`;
/** Pods without the label, which `!=` matches too. */
export const UNINJECTED_SELECTOR = `${INJECTED_LABEL}!=true`;
/** A field selector: a watch says DELETED when a pod stops running. */
export const RUNNING_SELECTOR = 'status.phase=Running';

export interface ObjectMeta {
  name?: string;
  uid?: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  managedFields?: { manager?: string; operation?: string; fieldsV1?: unknown }[];
  deletionTimestamp?: unknown;
  creationTimestamp?: Date | string;
  ownerReferences?: { apiVersion?: string; kind?: string; name?: string; uid?: string; controller?: boolean }[];
}

export interface PodLike {
  metadata?: ObjectMeta;
  status?: { podIP?: string; phase?: string };
  /** Only whether it is a Windows pod (the sidecar cannot serve those). */
  spec?: { os?: { name?: string } };
}

export interface ServicePort {
  name?: string;
  port: number;
  protocol?: string;
  targetPort?: number | string;
}

export interface ServiceLike {
  metadata?: ObjectMeta;
  spec?: { type?: string; clusterIP?: string; selector?: Record<string, string>; ports?: ServicePort[] };
}

export interface InjectedPod {
  name: string;
  uid?: string;
  /** Where its sidecar answers (POST /reload), once the pod has an address. */
  ip?: string;
  createdAt?: number;
  labels: Record<string, string>;
  /** What its sidecar runs (promtail for pods whose status predates the choice): which ConfigMap key it reads, how it reloads. */
  agent: Agent;
  metricsPort: number;
  configMap: string;
}

/** Reads an injected pod's labels and the status annotation the webhook wrote. */
export function readInjectedPod(pod: PodLike, defaults: { metricsPort: number; configMap: string }): InjectedPod | undefined {
  const metadata = pod.metadata;
  if (metadata?.name === undefined || metadata.deletionTimestamp) return undefined;
  const labels = metadata.labels ?? {};
  if (labels[INJECTED_LABEL] !== 'true') return undefined;
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

export const selects = (selector: Record<string, string>, labels: Record<string, string>): boolean =>
  Object.entries(selector).every(([key, value]) => labels[key] === value);

/**
 * The port keys (`{"port":N,"protocol":"TCP"}`) that our field manager owns on
 * this Service, from managedFields: only those are ours to change or remove.
 */
export function portsWeOwn(service: ServiceLike): { port: number; protocol: string }[] {
  const owned: { port: number; protocol: string }[] = [];
  for (const entry of service.metadata?.managedFields ?? []) {
    if (entry.manager !== FIELD_MANAGER || entry.operation !== 'Apply') continue;
    const ports = (entry.fieldsV1 as { 'f:spec'?: { 'f:ports'?: Record<string, unknown> } } | undefined)?.['f:spec']?.['f:ports'] ?? {};
    for (const key of Object.keys(ports)) {
      if (!key.startsWith('k:')) continue;
      try {
        const parsed = JSON.parse(key.slice(2)) as { port?: unknown; protocol?: unknown };
        if (typeof parsed.port === 'number') owned.push({ port: parsed.port, protocol: typeof parsed.protocol === 'string' ? parsed.protocol : 'TCP' });
      } catch {
        // not a key we wrote
      }
    }
  }
  return owned;
}

export { LAYOUT };
