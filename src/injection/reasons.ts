// Reason codes for "should I inject, and what happened?". The same codes label
// metrics and log lines, so keep them stable and low in number.

export const INJECT_REASONS = ['annotation_opt_in', 'namespace_enabled', 'namespace_enforced'] as const;
export const SKIP_REASONS = ['not_requested', 'opted_out', 'already_injected', 'windows_pod'] as const;
export const REFUSE_REASONS = [
  'invalid_annotation',
  'unknown_container',
  'volume_conflict',
  'mount_conflict',
  'container_conflict',
  'port_conflict',
  'needs_native_sidecar',
  'annotations_too_large',
] as const;

export type InjectReason = (typeof INJECT_REASONS)[number];
export type SkipReason = (typeof SKIP_REASONS)[number];
export type RefuseReason = (typeof REFUSE_REASONS)[number];

export interface Refusal {
  kind: 'refused';
  reason: RefuseReason;
  /** Names the conflict or the annotation and says how to resolve it. */
  message: string;
}

export const refuse = (reason: RefuseReason, message: string): Refusal => ({ kind: 'refused', reason, message });
