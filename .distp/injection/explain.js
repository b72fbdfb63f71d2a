import { ANNOTATIONS } from './annotations.js';
const OPT_IN = `${ANNOTATIONS.sidecar}: "true"`;
const OPT_OUT = `${ANNOTATIONS.sidecar}: "false"`;
const NAMESPACE_LABEL = 'logging.sre-quero/injection';
const INJECTED = {
    annotation_opt_in: { why: `the pod template asks for it (${OPT_IN})`, change: `to go without: remove the annotation or set ${OPT_OUT}` },
    namespace_enabled: { why: `its namespace is labelled ${NAMESPACE_LABEL}=enabled: every pod gets the sidecar unless it opts out`, change: `to go without: set ${OPT_OUT} on the pod template` },
    namespace_enforced: {
        why: `its namespace is labelled ${NAMESPACE_LABEL}=enforced: every pod gets the sidecar, and an opt-out is ignored`,
        change: `nothing on the pod can turn it off; the platform team owns the namespace label`,
    },
};
const SKIPPED = {
    not_requested: {
        why: 'the pod template does not ask for the sidecar, and its namespace only injects pods that do',
        change: `set ${OPT_IN} on the pod template, or label the namespace ${NAMESPACE_LABEL}=enabled`,
    },
    opted_out: { why: `the pod template opts out (${OPT_OUT})`, change: `remove the annotation, or set ${OPT_IN}` },
    already_injected: { why: `the pod already has the sidecar and its ${ANNOTATIONS.status} annotation`, change: 'nothing: injection is idempotent' },
    windows_pod: { why: 'a Windows pod: the promtail sidecar image is Linux only', change: 'nothing on the pod; ship its logs with a node-level agent' },
};
export function explain(result) {
    switch (result.kind) {
        case 'injected':
            return { decision: 'injected', reason: result.reason, ...INJECTED[result.reason] };
        case 'skipped':
            return { decision: 'skipped', reason: result.reason, ...SKIPPED[result.reason] };
        case 'refused':
            // A refusal's message names the conflict and how to resolve it.
            return { decision: 'refused', reason: result.reason, why: result.message, change: 'as the message says, then create the pod again' };
    }
}
//# sourceMappingURL=explain.js.map