import { ANNOTATIONS } from './annotations.js';
import { refuse } from './reasons.js';
import { LAYOUT } from './layout.js';
import { hasStatus } from './status.js';
import { parseBoolean } from './values.js';
export const MODES = ['annotated', 'enabled', 'enforced'];
export function isInjected(annotations, spec) {
    return (hasStatus(annotations) &&
        (spec.containers.some((c) => c.name === LAYOUT.sidecarName) || (spec.initContainers ?? []).some((c) => c.name === LAYOUT.sidecarName && c.restartPolicy === 'Always')));
}
/**
 * Pods the Linux sidecar cannot serve, whatever was asked: a Windows pod
 * would be made invalid by the Linux image and its securityContext.
 */
export function isWindowsPod(spec) {
    const os = spec.os;
    return os?.name === 'windows';
}
export function decide(annotations, spec, mode) {
    const decision = decideMode(annotations, spec, mode);
    return decision.kind === 'inject' && isWindowsPod(spec) ? { kind: 'skip', reason: 'windows_pod' } : decision;
}
function decideMode(annotations, spec, mode) {
    const raw = annotations[ANNOTATIONS.sidecar];
    let wanted;
    if (raw !== undefined) {
        const parsed = parseBoolean(raw);
        if (!parsed.ok) {
            return refuse('invalid_annotation', `annotation ${ANNOTATIONS.sidecar}: "${clip(raw)}" is not valid; expected ${parsed.expected}`);
        }
        wanted = parsed.value;
    }
    if (isInjected(annotations, spec))
        return { kind: 'skip', reason: 'already_injected' };
    switch (mode) {
        case 'annotated':
            if (wanted === true)
                return { kind: 'inject', reason: 'annotation_opt_in', warnings: [] };
            return { kind: 'skip', reason: wanted === false ? 'opted_out' : 'not_requested' };
        case 'enabled':
            if (wanted === false)
                return { kind: 'skip', reason: 'opted_out' };
            return { kind: 'inject', reason: 'namespace_enabled', warnings: [] };
        case 'enforced': {
            const warnings = wanted === false
                ? [`${ANNOTATIONS.sidecar}: "false" is not honoured: this namespace enforces the logging sidecar`]
                : [];
            return { kind: 'inject', reason: 'namespace_enforced', warnings };
        }
    }
}
/** Keeps hostile values from flooding messages and logs. */
export function clip(value, max = 64) {
    // Control and format characters escaped: as JSON writes them (\n,
    // \u0007), else as \uXXXX, so bidi overrides (U+202E) and line separators
    // cannot reorder or split what a terminal shows. Printable text (é) stays.
    const printable = value.replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/gu, (c) => {
        const json = JSON.stringify(c).slice(1, -1);
        if (json !== c)
            return json;
        return [...Array(c.length).keys()].map((i) => `\\u${c.charCodeAt(i).toString(16).padStart(4, '0')}`).join('');
    });
    return printable.length > max ? `${printable.slice(0, max)}…` : printable;
}
//# sourceMappingURL=decide.js.map