import { ANNOTATIONS } from './annotations.js';
import type { PodSpec } from './pod.js';
import { refuse, type InjectReason, type Refusal, type SkipReason } from './reasons.js';
import { LAYOUT } from './settings.js';
import { parseBoolean } from './values.js';

/**
 * Which webhook entry asked. The API server selects namespaces by label, so
 * the mode arrives with the request (its URL path) and the core never looks
 * a namespace up.
 */
export type Mode = 'annotated' | 'enabled' | 'enforced';
export const MODES: readonly Mode[] = ['annotated', 'enabled', 'enforced'];

export type Decision =
  | { kind: 'inject'; reason: InjectReason; warnings: string[] }
  | { kind: 'skip'; reason: SkipReason }
  | Refusal;

export function isInjected(annotations: Readonly<Record<string, string>>, spec: PodSpec): boolean {
  return (
    annotations[ANNOTATIONS.status] !== undefined &&
    (spec.containers.some((c) => c.name === LAYOUT.sidecarName) || (spec.initContainers ?? []).some((c) => c.name === LAYOUT.sidecarName && c.restartPolicy === 'Always'))
  );
}

export function decide(annotations: Readonly<Record<string, string>>, spec: PodSpec, mode: Mode): Decision {
  const raw = annotations[ANNOTATIONS.sidecar];
  let wanted: boolean | undefined;
  if (raw !== undefined) {
    const parsed = parseBoolean(raw);
    if (!parsed.ok) {
      return refuse('invalid_annotation', `annotation ${ANNOTATIONS.sidecar}: "${clip(raw)}" is not valid; expected ${parsed.expected}`);
    }
    wanted = parsed.value;
  }
  if (isInjected(annotations, spec)) return { kind: 'skip', reason: 'already_injected' };
  switch (mode) {
    case 'annotated':
      if (wanted === true) return { kind: 'inject', reason: 'annotation_opt_in', warnings: [] };
      return { kind: 'skip', reason: wanted === false ? 'opted_out' : 'not_requested' };
    case 'enabled':
      if (wanted === false) return { kind: 'skip', reason: 'opted_out' };
      return { kind: 'inject', reason: 'namespace_enabled', warnings: [] };
    case 'enforced': {
      const warnings =
        wanted === false
          ? [`${ANNOTATIONS.sidecar}: "false" is not honoured: this namespace enforces the logging sidecar`]
          : [];
      return { kind: 'inject', reason: 'namespace_enforced', warnings };
    }
  }
}

/** Keeps hostile values from flooding messages and logs. */
export function clip(value: string, max = 64): string {
  const printable = value.replace(/[^\x20-\x7e]/g, (c) => JSON.stringify(c).slice(1, -1));
  return printable.length > max ? `${printable.slice(0, max)}…` : printable;
}
