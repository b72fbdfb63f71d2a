import type { FastifyInstance } from 'fastify';
import type { InjectorSettings, Mode, NodeFacts } from '../injection/index.js';
import type { Metrics } from '../metrics.js';
import { answerEnforcement, answerReview, type ReviewOutcome } from './handle.js';
import { readReview, type AdmissionReview } from './review.js';

/** URL path per webhook entry; the entry's namespaceSelector decides which applies. */
export const MUTATE_PATHS: Readonly<Record<Mode, string>> = Object.freeze({
  annotated: '/mutate',
  enabled: '/mutate/enabled',
  enforced: '/mutate/enforced',
});

export interface AdmissionRouteDeps {
  settings: InjectorSettings;
  metrics: Metrics;
  /** Node kubelet versions for sidecar mode `auto`; none: auto means classic. */
  nodes?: () => NodeFacts | undefined;
}

/** The validating check for enforced namespaces. */
export const VALIDATE_ENFORCED_PATH = '/validate/enforced';

type Answer = (review: AdmissionReview) => ReviewOutcome;

export function registerAdmissionRoutes(app: FastifyInstance, deps: AdmissionRouteDeps): void {
  const routes: [string, string, Answer][] = (Object.entries(MUTATE_PATHS) as [Mode, string][]).map(([mode, url]) => [
    url,
    mode,
    (review: AdmissionReview) => answerReview(review, deps.settings, mode, deps.nodes?.()),
  ]);
  routes.push([VALIDATE_ENFORCED_PATH, 'validate-enforced', answerEnforcement]);

  for (const [url, mode, answer] of routes) {
    app.post(url, async (request, reply) => {
      const started = process.hrtime.bigint();
      const review = readReview(request.body);
      const outcome = answer(review);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      deps.metrics.reviews.inc({ mode, decision: outcome.verdict, reason: outcome.reason });
      deps.metrics.reviewDuration.observe({ mode }, seconds);
      const { sidecar } = outcome;
      if (sidecar) deps.metrics.injectedSidecars.inc({ sidecar_mode: sidecar.sidecarMode, chosen_by: sidecar.sidecarModeReason ? `auto:${sidecar.sidecarModeReason}` : sidecar.sidecarModeFrom });
      const { request: admission } = review;
      request.log.info(
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
      return reply.send(outcome.body);
    });
  }
}
