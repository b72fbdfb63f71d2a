// Reason codes for "should I inject, and what happened?". The same codes label
// metrics and log lines, so keep them stable and low in number.
export const INJECT_REASONS = ['annotation_opt_in', 'namespace_enabled', 'namespace_enforced'];
export const SKIP_REASONS = ['not_requested', 'opted_out', 'already_injected', 'windows_pod'];
export const REFUSE_REASONS = [
    'invalid_annotation',
    'unknown_container',
    'volume_conflict',
    'mount_conflict',
    'container_conflict',
    'port_conflict',
    'needs_native_sidecar',
    'annotations_too_large',
];
export const refuse = (reason, message) => ({ kind: 'refused', reason, message });
//# sourceMappingURL=reasons.js.map