import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { levels } from 'pino';
import type { InjectorSettings, Mode, NodeFacts, RefuseReason } from '../injection/index.js';
import { REFUSE_REASONS } from '../injection/reasons.js';
import type { Metrics } from '../metrics.js';
import { ANSWER_MEMO_LIMITS, AnswerMemo } from './answer-memo.js';
import { answerEnforcement, answerReview, type ReviewOutcome, type Verdict } from './handle.js';
import type { RefusedPod } from './refusal-events.js';
import { readReview, type AdmissionReview } from './review.js';
import { MUTATE_PATHS, VALIDATE_ENFORCED_PATH } from '../webhook-contract.js';

export interface AdmissionRouteDeps {
  settings: InjectorSettings;
  metrics: Metrics;
  /**
   * Node kubelet versions for sidecar mode `auto`; none: auto means classic.
   * A value: the same object while the versions are the same, never changed
   * in place (answers are kept per node facts object, answer-memo.ts).
   */
  nodes?: () => NodeFacts | undefined;
  /** The namespace the server runs in (SRE_QUERO_NAMESPACE): never injected nor checked, and named by the enforcement message. */
  namespace?: string;
  /** Told of each refused pod (an Event on its owner, refusal-events.ts); must not wait. None: no cluster access, no Events. */
  refusals?: { report(refused: RefusedPod): void };
}

/** `bodyBytes`: the request body's size, when the request says it. */
type Answer = (review: AdmissionReview, bodyBytes?: number) => ReviewOutcome;

const isRefuseReason = (reason: string): reason is RefuseReason => (REFUSE_REASONS as readonly string[]).includes(reason);

/** Takes a parsed request body (and its size in bytes, when known), returns the answer's JSON text; throws InvalidReviewError for a malformed review. */
export type ReviewHandler = (body: unknown, log: FastifyBaseLogger, bodyBytes?: number) => string;

// A refusal is something a person must act on: always logged. The rest
// (injected, skipped, ...) are routine, one per pod created in the cluster:
// counted by the metrics, logged at debug.
const LOG_LEVEL: Readonly<Record<Verdict, 'info' | 'debug'>> = { refused: 'info', injected: 'debug', skipped: 'debug', ignored: 'debug', allowed: 'debug' };

/**
 * One webhook path's work after the body is parsed: decode, answer, count,
 * log. Apart from the route so the benchmarks measure exactly what it does.
 * The metric children are looked up once per label set, not per review.
 */
export function reviewHandler(deps: Pick<AdmissionRouteDeps, 'metrics' | 'refusals'>, mode: string, answer: Answer): ReviewHandler {
  const { metrics, refusals } = deps;
  const duration = metrics.reviewDuration.labels({ mode });
  const reviews = new Map<string, ReturnType<Metrics['reviews']['labels']>>();
  const sidecars = new Map<string, ReturnType<Metrics['injectedSidecars']['labels']>>();
  return (body, log, bodyBytes) => {
    const started = process.hrtime.bigint();
    const review = readReview(body);
    const outcome = answer(review, bodyBytes);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const reviewKey = `${outcome.verdict}\u0000${outcome.reason}`;
    let counter = reviews.get(reviewKey);
    if (counter === undefined) reviews.set(reviewKey, (counter = metrics.reviews.labels({ mode, decision: outcome.verdict, reason: outcome.reason })));
    counter.inc();
    duration.observe(seconds);
    const { sidecar } = outcome;
    if (sidecar) {
      const chosenBy = sidecar.sidecarModeReason ? `auto:${sidecar.sidecarModeReason}` : sidecar.sidecarModeFrom;
      const sidecarKey = `${sidecar.sidecarMode}\u0000${chosenBy}\u0000${sidecar.agent}`;
      let injected = sidecars.get(sidecarKey);
      if (injected === undefined) sidecars.set(sidecarKey, (injected = metrics.injectedSidecars.labels({ sidecar_mode: sidecar.sidecarMode, chosen_by: chosenBy, agent: sidecar.agent })));
      injected.inc();
    }
    // Every refusal of the injector is something the pod's owner can fix (a value, a conflict).
    if (refusals !== undefined && outcome.verdict === 'refused' && outcome.message !== undefined && isRefuseReason(outcome.reason)) {
      const { namespace, pod } = review.request;
      const metadata = pod?.metadata;
      if (namespace && metadata !== undefined) {
        const { name, generateName, uid, ownerReferences } = metadata;
        refusals.report({ namespace, pod: { name, generateName, uid: typeof uid === 'string' ? uid : undefined, ownerReferences }, reason: outcome.reason, message: outcome.message });
      }
    }
    const level = LOG_LEVEL[outcome.verdict];
    // Only build the line when it is written.
    if ((levels.values[level] as number) >= (levels.values[log.level] ?? 0)) {
      const { request: admission } = review;
      log[level](
        {
          uid: admission.uid,
          namespace: admission.namespace,
          pod: admission.name || admission.pod?.metadata?.name || admission.pod?.metadata?.generateName,
          operation: admission.operation,
          mode,
          decision: outcome.verdict,
          reason: outcome.reason,
          ...sidecar,
          durationMs: Math.round(seconds * 1e6) / 1e3,
        },
        'admission review',
      );
    }
    return outcome.answer;
  };
}

export function registerAdmissionRoutes(app: FastifyInstance, deps: AdmissionRouteDeps): void {
  const routes: [string, string, Answer][] = (Object.entries(MUTATE_PATHS) as [Mode, string][]).map(([mode, url]) => {
    // Each path's own: a Deployment's pods after the first are answered from it
    // (answer-memo.ts). Not for large bodies: the key would cost more than it saves.
    const memo = new AnswerMemo();
    return [
      url,
      mode,
      (review: AdmissionReview, bodyBytes?: number) =>
        answerReview(review, deps.settings, mode, deps.nodes?.(), deps.namespace, bodyBytes !== undefined && bodyBytes > ANSWER_MEMO_LIMITS.bodyBytes ? undefined : memo),
    ];
  });
  routes.push([VALIDATE_ENFORCED_PATH, 'validate-enforced', (review: AdmissionReview) => answerEnforcement(review, deps.namespace)]);

  for (const [url, mode, answer] of routes) {
    const handle = reviewHandler(deps, mode, answer);
    // The answer is JSON text already: Fastify sends a string with this type as is.
    app.post(url, async (request, reply) => {
      const length = request.headers['content-length'];
      return reply.type('application/json; charset=utf-8').send(handle(request.body, request.log, length === undefined ? undefined : Number(length)));
    });
  }
}
