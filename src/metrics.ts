import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface Metrics {
  registry: Registry;
  reviews: Counter<'mode' | 'decision' | 'reason'>;
  reviewDuration: Histogram<'mode'>;
  invalidRequests: Counter<'code'>;
  certificateReloads: Counter<'result'>;
}

/** One registry per process (or per test), never the prom-client global. */
export function createMetrics(options: { processMetrics: boolean } = { processMetrics: false }): Metrics {
  const registry = new Registry();
  if (options.processMetrics) collectDefaultMetrics({ register: registry });
  return {
    registry,
    reviews: new Counter({
      name: 'sre_quero_admission_reviews_total',
      help: 'Admission reviews answered, by webhook mode, decision and reason code.',
      labelNames: ['mode', 'decision', 'reason'],
      registers: [registry],
    }),
    reviewDuration: new Histogram({
      name: 'sre_quero_admission_review_duration_seconds',
      help: 'Time to validate, inject, diff and build the response, after the body is parsed (parsing and sending are not included).',
      labelNames: ['mode'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25],
      registers: [registry],
    }),
    invalidRequests: new Counter({
      name: 'sre_quero_invalid_requests_total',
      help: 'Requests answered with a 4xx error, by error code.',
      labelNames: ['code'],
      registers: [registry],
    }),
    certificateReloads: new Counter({
      name: 'sre_quero_certificate_reloads_total',
      help: 'Serving certificate reloads, by result.',
      labelNames: ['result'],
      registers: [registry],
    }),
  };
}
