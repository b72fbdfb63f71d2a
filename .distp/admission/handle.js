import { ANNOTATIONS, injectPod, isInjected, isWindowsPod } from '../injection/index.js';
import { patchText } from '../injection/patch.js';
import { allowText, denyText } from './response.js';
// Bad values are the user's mistake (400); collisions are about the pod's
// existing content (409). kubectl shows either as "denied the request: ...".
const REFUSAL_STATUS = {
    invalid_annotation: { code: 400, reason: 'BadRequest' },
    unknown_container: { code: 400, reason: 'BadRequest' },
    volume_conflict: { code: 409, reason: 'Conflict' },
    mount_conflict: { code: 409, reason: 'Conflict' },
    container_conflict: { code: 409, reason: 'Conflict' },
    port_conflict: { code: 409, reason: 'Conflict' },
    needs_native_sidecar: { code: 409, reason: 'Conflict' },
    annotations_too_large: { code: 409, reason: 'Conflict' },
};
/** Decode is done; this is inject -> patch -> answer text. No I/O. */
export function answerReview(review, settings, mode, nodes) {
    const { apiVersion, request } = review;
    if (request.pod === undefined) {
        return { answer: allowText(apiVersion, request.uid), verdict: 'ignored', reason: 'not_pod_create' };
    }
    const result = injectPod(request.pod, settings, mode, nodes);
    switch (result.kind) {
        case 'skipped':
            return { answer: allowText(apiVersion, request.uid), verdict: 'skipped', reason: result.reason };
        case 'refused': {
            const { code, reason } = REFUSAL_STATUS[result.reason];
            return { answer: denyText(apiVersion, request.uid, code, reason, result.message), verdict: 'refused', reason: result.reason };
        }
        case 'injected':
            return {
                answer: allowText(apiVersion, request.uid, patchText(request.pod, result.pod), result.warnings),
                verdict: 'injected',
                reason: result.reason,
                sidecar: result.sidecar,
            };
    }
}
/**
 * The enforced namespaces' validating check: a pod must carry the sidecar.
 * It catches pods admitted while the (fail-open) injector was unreachable.
 */
export function answerEnforcement(review) {
    const { apiVersion, request } = review;
    if (request.pod === undefined) {
        return { answer: allowText(apiVersion, request.uid), verdict: 'ignored', reason: 'not_pod_create' };
    }
    if (isInjected(request.pod.metadata?.annotations ?? {}, request.pod.spec)) {
        return { answer: allowText(apiVersion, request.uid), verdict: 'allowed', reason: 'sidecar_present' };
    }
    // The injector skips these (it cannot serve them), so enforcement cannot ask for the sidecar.
    if (isWindowsPod(request.pod.spec))
        return { answer: allowText(apiVersion, request.uid), verdict: 'allowed', reason: 'windows_pod' };
    const namespace = request.namespace ?? 'this namespace';
    const message = `pod lacks the logging sidecar that namespace ${namespace} enforces (label logging.sre-quero/injection=enforced; ` +
        `no promtail container and ${ANNOTATIONS.status} annotation): it was created while the sre-quero injector was unreachable ` +
        `or bypassed. Recreate it once the injector is healthy (e.g. kubectl rollout restart on its workload); ` +
        `check the sre-quero webhook in namespace sre-quero if this persists.`;
    return { answer: denyText(apiVersion, request.uid, 403, 'Forbidden', message), verdict: 'refused', reason: 'sidecar_missing' };
}
//# sourceMappingURL=handle.js.map