import { levels } from 'pino';
import { answerEnforcement, answerReview } from './handle.js';
import { readReview } from './review.js';
import { MUTATE_PATHS, VALIDATE_ENFORCED_PATH } from '../webhook-contract.js';
// A refusal is something a person must act on: always logged. The rest
// (injected, skipped, ...) are routine, one per pod created in the cluster:
// counted by the metrics, logged at debug.
const LOG_LEVEL = { refused: 'info', injected: 'debug', skipped: 'debug', ignored: 'debug', allowed: 'debug' };
/**
 * One webhook path's work after the body is parsed: decode, answer, count,
 * log. Apart from the route so the benchmarks measure exactly what it does.
 * The metric children are looked up once per label set, not per review.
 */
export function reviewHandler(deps, mode, answer) {
    const { metrics } = deps;
    const duration = metrics.reviewDuration.labels({ mode });
    const reviews = new Map();
    const sidecars = new Map();
    return (body, log) => {
        const started = process.hrtime.bigint();
        const review = readReview(body);
        const outcome = answer(review);
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        const reviewKey = `${outcome.verdict}\u0000${outcome.reason}`;
        let counter = reviews.get(reviewKey);
        if (counter === undefined)
            reviews.set(reviewKey, (counter = metrics.reviews.labels({ mode, decision: outcome.verdict, reason: outcome.reason })));
        counter.inc();
        duration.observe(seconds);
        const { sidecar } = outcome;
        if (sidecar) {
            const chosenBy = sidecar.sidecarModeReason ? `auto:${sidecar.sidecarModeReason}` : sidecar.sidecarModeFrom;
            const sidecarKey = `${sidecar.sidecarMode}\u0000${chosenBy}\u0000${sidecar.agent}`;
            let injected = sidecars.get(sidecarKey);
            if (injected === undefined)
                sidecars.set(sidecarKey, (injected = metrics.injectedSidecars.labels({ sidecar_mode: sidecar.sidecarMode, chosen_by: chosenBy, agent: sidecar.agent })));
            injected.inc();
        }
        const level = LOG_LEVEL[outcome.verdict];
        // Only build the line when it is written.
        if (levels.values[level] >= (levels.values[log.level] ?? 0)) {
            const { request: admission } = review;
            log[level]({
                uid: admission.uid,
                namespace: admission.namespace,
                pod: admission.name || admission.pod?.metadata?.name || admission.pod?.metadata?.generateName,
                operation: admission.operation,
                mode,
                decision: outcome.verdict,
                reason: outcome.reason,
                ...sidecar,
                durationMs: Math.round(seconds * 1e6) / 1e3,
            }, 'admission review');
        }
        return outcome.answer;
    };
}
export function registerAdmissionRoutes(app, deps) {
    const routes = Object.entries(MUTATE_PATHS).map(([mode, url]) => [
        url,
        mode,
        (review) => answerReview(review, deps.settings, mode, deps.nodes?.()),
    ]);
    routes.push([VALIDATE_ENFORCED_PATH, 'validate-enforced', answerEnforcement]);
    for (const [url, mode, answer] of routes) {
        const handle = reviewHandler(deps, mode, answer);
        // The answer is JSON text already: Fastify sends a string with this type as is.
        app.post(url, async (request, reply) => reply.type('application/json; charset=utf-8').send(handle(request.body, request.log)));
    }
}
//# sourceMappingURL=routes.js.map