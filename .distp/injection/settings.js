// What the injector builds when a pod says nothing else. The server's settings
// file may override each field (validated in config.ts); annotations override
// per pod (validated in overrides.ts).
export const SIDECAR_MODE_SETTINGS = ['classic', 'native', 'auto'];
/**
 * The last promtail release line before its end of life (2026-03-02). The
 * source goes on to v3.6.15, but 3.6.11 is the newest `grafana/promtail`
 * tag published as an image (pulls of later tags fail: manifest unknown).
 */
export const PROMTAIL_TAG = '3.6.11';
export const PROMTAIL_IMAGE = `grafana/promtail:${PROMTAIL_TAG}`;
export const DEFAULT_SETTINGS = Object.freeze({
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
//# sourceMappingURL=settings.js.map