import { AGENTS, type Agent } from './agents.js';
import { ANNOTATIONS } from './annotations.js';
import type { SidecarMode } from './settings.js';
import type { AutoModeReason } from './sidecar-mode.js';

// The status annotation (logging.sre-quero/status): written by the core when
// it injects, read by the core and the enforcement check (is the pod
// injected?) and by the reconciler (which port, which ConfigMap). Its one
// home, as Istio pairs its status type with its reader.

/** What the status annotation records: enough to see, and audit, what was injected. */
export interface InjectionStatus {
  sidecar: string;
  /** The log shipper the sidecar runs; the container keeps its name (`sidecar`) whatever it runs. */
  agent: Agent;
  /** classic (an app container) or native (the first init container), and who chose it. */
  sidecarMode: SidecarMode;
  sidecarModeFrom: 'annotation' | 'settings';
  /** Only when the mode was `auto`: nodes_support_native, node_too_old or no_node_information. */
  sidecarModeReason?: AutoModeReason;
  image: string;
  metricsPort: number;
  logPath: string;
  containers: string[];
  configMap: string;
  /** Only when one is mounted. */
  credentialsSecret?: string;
  reusedVolumes: string[];
}

/** The pod's annotations with the status added (or replaced). */
export function withStatus(annotations: Readonly<Record<string, string>>, status: InjectionStatus): Record<string, string> {
  return { ...annotations, [ANNOTATIONS.status]: JSON.stringify(status) };
}

export function hasStatus(annotations: Readonly<Record<string, string>>): boolean {
  return annotations[ANNOTATIONS.status] !== undefined;
}

/** What the reconciler and `explain` read from a pod's status. */
export interface StatusFacts {
  /** Which agent to ask to reload, and how: promtail when the status does not say (pods injected before there was a choice). */
  agent: Agent;
  metricsPort?: number;
  configMap?: string;
  /** The sidecar image it was given: compared with what the settings give today (escaped pods, explain). */
  image?: string;
  sidecarMode?: SidecarMode;
}

/**
 * What the reconciler relies on, from a status that may be hand-edited or
 * written by an older version: each field only when it is well-formed.
 */
export function readStatus(annotations: Readonly<Record<string, string>> | undefined): StatusFacts {
  let parsed: unknown;
  try {
    parsed = JSON.parse(annotations?.[ANNOTATIONS.status] ?? '{}');
  } catch {
    return { agent: 'promtail' };
  }
  if (typeof parsed !== 'object' || parsed === null) return { agent: 'promtail' };
  const { agent, metricsPort, configMap, image, sidecarMode } = parsed as { agent?: unknown; metricsPort?: unknown; configMap?: unknown; image?: unknown; sidecarMode?: unknown };
  return {
    agent: (AGENTS as readonly unknown[]).includes(agent) ? (agent as Agent) : 'promtail',
    ...(Number.isInteger(metricsPort) && (metricsPort as number) > 0 && (metricsPort as number) < 65536 ? { metricsPort: metricsPort as number } : {}),
    ...(typeof configMap === 'string' ? { configMap } : {}),
    ...(typeof image === 'string' && image !== '' ? { image } : {}),
    ...(sidecarMode === 'classic' || sidecarMode === 'native' ? { sidecarMode } : {}),
  };
}
