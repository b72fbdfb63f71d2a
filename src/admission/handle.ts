import { ANNOTATIONS, injectPod, isInjected, isWindowsPod, type InjectedSidecar, type InjectorSettings, type Mode, type NodeFacts, type PodTemplate, type RefuseReason } from '../injection/index.js';
import { patchText } from '../injection/patch.js';
import type { AnswerMemo } from './answer-memo.js';
import { allowTail, allowText, answerHead, denyTail, denyText } from './response.js';
import type { AdmissionReview } from './review.js';
import { DEFAULT_NAMESPACE } from '../webhook-contract.js';

export type Verdict = 'injected' | 'skipped' | 'refused' | 'ignored' | 'allowed';

export interface ReviewOutcome {
  /** The AdmissionReview answer, as the JSON text sent. */
  answer: string;
  verdict: Verdict;
  reason: string;
  /** For an injected pod: which agent and sidecar mode it got, and who or what chose them. */
  sidecar?: InjectedSidecar;
  /** For a refused pod: the message the API server shows. */
  message?: string;
}

// Bad values are the user's mistake (400); collisions are about the pod's
// existing content (409). kubectl shows either as "denied the request: ...".
const REFUSAL_STATUS: Record<RefuseReason, { code: number; reason: string }> = {
  invalid_annotation: { code: 400, reason: 'BadRequest' },
  unknown_container: { code: 400, reason: 'BadRequest' },
  volume_conflict: { code: 409, reason: 'Conflict' },
  mount_conflict: { code: 409, reason: 'Conflict' },
  container_conflict: { code: 409, reason: 'Conflict' },
  port_conflict: { code: 409, reason: 'Conflict' },
  needs_native_sidecar: { code: 409, reason: 'Conflict' },
  annotations_too_large: { code: 409, reason: 'Conflict' },
};

/**
 * The install's own namespace is never injected nor checked, whatever the
 * webhook configuration sends: the webhooks exclude it by name, and this
 * holds when a hand-edited or half-renamed configuration does not (a
 * `namespace:` override without the selector patch, deploy/README.md).
 */
const OWN_NAMESPACE = 'own_namespace';

/**
 * What a pod's answer says apart from the review it came in (its apiVersion
 * and uid): the verdict and the answer's tail (response.ts). A function of
 * the pod, the settings, the mode and the node facts only, so it may be kept
 * for the next pod that is the same (answer-memo.ts).
 */
export interface PodAnswer {
  tail: string;
  verdict: 'injected' | 'skipped' | 'refused';
  reason: string;
  sidecar?: InjectedSidecar;
  message?: string;
}

/** inject -> patch -> the answer's tail. No I/O. */
export function answerPod(pod: PodTemplate, settings: InjectorSettings, mode: Mode, nodes?: NodeFacts): PodAnswer {
  const result = injectPod(pod, settings, mode, nodes);
  switch (result.kind) {
    case 'skipped':
      return { tail: allowTail(), verdict: 'skipped', reason: result.reason };
    case 'refused': {
      const { code, reason } = REFUSAL_STATUS[result.reason];
      return { tail: denyTail(code, reason, result.message), verdict: 'refused', reason: result.reason, message: result.message };
    }
    case 'injected':
      return { tail: allowTail(patchText(pod, result.pod), result.warnings), verdict: 'injected', reason: result.reason, sidecar: result.sidecar };
  }
}

/**
 * Decode is done; this is inject -> patch -> answer text. No I/O.
 * `installNamespace`: the server's own, skipped. `memo`: pod answers kept
 * from earlier reviews (the server's routes); the answer is the same bytes
 * with or without it.
 */
export function answerReview(review: AdmissionReview, settings: InjectorSettings, mode: Mode, nodes?: NodeFacts, installNamespace?: string, memo?: AnswerMemo): ReviewOutcome {
  const { apiVersion, request } = review;
  if (request.pod === undefined) {
    return { answer: allowText(apiVersion, request.uid), verdict: 'ignored', reason: 'not_pod_create' };
  }
  if (installNamespace !== undefined && request.namespace === installNamespace) {
    return { answer: allowText(apiVersion, request.uid), verdict: 'skipped', reason: OWN_NAMESPACE };
  }
  const pod = memo === undefined ? answerPod(request.pod, settings, mode, nodes) : memo.answer(request.pod, settings, mode, nodes);
  const outcome: ReviewOutcome = { answer: answerHead(apiVersion, request.uid) + pod.tail, verdict: pod.verdict, reason: pod.reason };
  if (pod.sidecar !== undefined) outcome.sidecar = pod.sidecar;
  if (pod.message !== undefined) outcome.message = pod.message;
  return outcome;
}

/**
 * The enforced namespaces' validating check: a pod must carry the sidecar.
 * It catches pods admitted while the (fail-open) injector was unreachable.
 * `installNamespace` is where to look for the injector (the message says so;
 * deploy/base's policy says the same of its namespace), and is never checked.
 */
export function answerEnforcement(review: AdmissionReview, installNamespace?: string): ReviewOutcome {
  const { apiVersion, request } = review;
  if (request.pod === undefined) {
    return { answer: allowText(apiVersion, request.uid), verdict: 'ignored', reason: 'not_pod_create' };
  }
  if (installNamespace !== undefined && request.namespace === installNamespace) return { answer: allowText(apiVersion, request.uid), verdict: 'allowed', reason: OWN_NAMESPACE };
  if (isInjected(request.pod.metadata?.annotations ?? {}, request.pod.spec)) {
    return { answer: allowText(apiVersion, request.uid), verdict: 'allowed', reason: 'sidecar_present' };
  }
  // The injector skips these (it cannot serve them), so enforcement cannot ask for the sidecar.
  if (isWindowsPod(request.pod.spec)) return { answer: allowText(apiVersion, request.uid), verdict: 'allowed', reason: 'windows_pod' };
  const namespace = request.namespace ?? 'this namespace';
  const message =
    `pod lacks the logging sidecar that namespace ${namespace} enforces (label logging.sre-quero/injection=enforced; ` +
    `no promtail container and ${ANNOTATIONS.status} annotation): it was created while the sre-quero injector was unreachable ` +
    `or bypassed. Recreate it once the injector is healthy (e.g. kubectl rollout restart on its workload); ` +
    `check the sre-quero webhook in namespace ${installNamespace ?? DEFAULT_NAMESPACE} if this persists.`;
  return { answer: denyText(apiVersion, request.uid, 403, 'Forbidden', message), verdict: 'refused', reason: 'sidecar_missing' };
}
