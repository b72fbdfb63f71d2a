import { AGENT_PROFILES, AGENTS } from './agents.js';
export const SIDECAR_MODE_SETTINGS = ['classic', 'native', 'auto'];
/** promtail stays the default: the recipe this product automates (README: the agents). */
export const DEFAULT_SETTINGS = Object.freeze({
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
    resources: Object.freeze({
        requests: Object.freeze({ cpu: '50m', memory: '64Mi' }),
        limits: Object.freeze({ cpu: '200m', memory: '128Mi' }),
    }),
});
//# sourceMappingURL=settings.js.map