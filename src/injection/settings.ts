import { AGENT_PROFILES, AGENTS, type Agent } from './agents.js';

// What the injector builds when a pod says nothing else. The server's settings
// file may override each field (validated in config.ts); annotations override
// per pod (validated in overrides.ts).

export interface ResourceSettings {
  requests: { cpu: string; memory: string };
  limits: { cpu: string; memory: string };
}

/**
 * Where the sidecar goes. classic: one more app container (stops when the pod
 * is deleted; a Job's pod never completes). native: the first init container
 * with restartPolicy Always (Kubernetes 1.29+, stable in 1.33): it starts
 * before the app and stops after it, and Jobs complete.
 */
export type SidecarMode = 'classic' | 'native';
/** What settings and the annotation may ask for: a mode, or `auto` (decided from the nodes, sidecar-mode.ts). */
export type SidecarModeSetting = SidecarMode | 'auto';
export const SIDECAR_MODE_SETTINGS: readonly SidecarModeSetting[] = ['classic', 'native', 'auto'];

export interface InjectorSettings {
  /** The log shipper a pod gets unless its `agent` annotation picks another. */
  agent: Agent;
  /** The agents pods may run: the `agent` annotation may pick only these (the default is one of them). */
  allowedAgents: readonly Agent[];
  /** The sidecar image, per agent. */
  images: Readonly<Record<Agent, string>>;
  /** Repositories a pod's `image` annotation may choose from, per agent (the image of the agent the pod runs). */
  allowedImageRepositories: Readonly<Record<Agent, readonly string[]>>;
  sidecarMode: SidecarModeSetting;
  logPath: string;
  logGlob: string;
  metricsPort: number;
  configMap: string;
  /**
   * A Secret in the pod's own namespace, mounted read-only (optional) at
   * LAYOUT.credentialsDir, for the Loki client's password_file,
   * bearer_token_file or tls_config files. None by default.
   */
  credentialsSecret?: string;
  /** The sidecar's requests and limits, per agent (the agents differ: AGENT_PROFILES); the pod's annotations override them. */
  resources: Readonly<Record<Agent, ResourceSettings>>;
}

/** promtail stays the default: the recipe this product automates (README: the agents). */
export const DEFAULT_SETTINGS: InjectorSettings = Object.freeze({
  agent: 'promtail',
  allowedAgents: Object.freeze([...AGENTS]),
  images: Object.freeze({ promtail: AGENT_PROFILES.promtail.image, alloy: AGENT_PROFILES.alloy.image }),
  allowedImageRepositories: Object.freeze({
    promtail: Object.freeze([...AGENT_PROFILES.promtail.repositories]),
    alloy: Object.freeze([...AGENT_PROFILES.alloy.repositories]),
  }),
  sidecarMode: 'classic',
  logPath: '/var/log/app',
  logGlob: '*.log',
  metricsPort: 9080,
  configMap: 'promtail-sidecar-config',
  resources: Object.freeze({ promtail: AGENT_PROFILES.promtail.resources, alloy: AGENT_PROFILES.alloy.resources }),
});
