import { AGENTS } from './agents.js';
import { ANNOTATIONS } from './annotations.js';
/** The pod's annotations with the status added (or replaced). */
export function withStatus(annotations, status) {
    return { ...annotations, [ANNOTATIONS.status]: JSON.stringify(status) };
}
export function hasStatus(annotations) {
    return annotations[ANNOTATIONS.status] !== undefined;
}
/**
 * What the reconciler relies on, from a status that may be hand-edited or
 * written by an older version: each field only when it is well-formed.
 */
export function readStatus(annotations) {
    let parsed;
    try {
        parsed = JSON.parse(annotations?.[ANNOTATIONS.status] ?? '{}');
    }
    catch {
        return { agent: 'promtail' };
    }
    if (typeof parsed !== 'object' || parsed === null)
        return { agent: 'promtail' };
    const { agent, metricsPort, configMap } = parsed;
    return {
        agent: AGENTS.includes(agent) ? agent : 'promtail',
        ...(Number.isInteger(metricsPort) && metricsPort > 0 && metricsPort < 65536 ? { metricsPort: metricsPort } : {}),
        ...(typeof configMap === 'string' ? { configMap } : {}),
    };
}
//# sourceMappingURL=status.js.map