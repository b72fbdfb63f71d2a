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
  image: string;
  sidecarMode: SidecarModeSetting;
  /** Repositories a pod's `image` annotation may choose from. */
  allowedImageRepositories: readonly string[];
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
  resources: ResourceSettings;
}

/**
 * The last promtail release line before its end of life (2026-03-02). The
 * source goes on to v3.6.15, but 3.6.11 is the newest `grafana/promtail`
 * tag published as an image (pulls of later tags fail: manifest unknown).
 */
export const PROMTAIL_TAG = '3.6.11';
export const PROMTAIL_IMAGE = `grafana/promtail:${PROMTAIL_TAG}`;

export const DEFAULT_SETTINGS: InjectorSettings = Object.freeze({
  image: PROMTAIL_IMAGE,
  sidecarMode: 'classic',
  allowedImageRepositories: Object.freeze(['grafana/promtail', 'docker.io/grafana/promtail']),
  logPath: '/var/log/app',
  logGlob: '*.log',
  metricsPort: 9080,
  configMap: 'promtail-sidecar-config',
  resources: Object.freeze({
    requests: Object.freeze({ cpu: '50m', memory: '64Mi' }),
    limits: Object.freeze({ cpu: '200m', memory: '128Mi' }),
  }),
});

// Names and paths of the layout itself: fixed, since the central promtail
// template and the reconciler rely on them.
export const LAYOUT = Object.freeze({
  sidecarName: 'promtail',
  portName: 'promtail-http',
  logVolume: 'shared-logs',
  positionsVolume: 'promtail-positions',
  configVolume: 'promtail-config',
  configDir: '/etc/promtail',
  credentialsVolume: 'promtail-credentials',
  credentialsDir: '/etc/promtail-credentials',
  configKey: 'promtail.yaml',
  positionsDir: '/run/promtail',
  runAsUser: 10001,
});
