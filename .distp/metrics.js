import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
/** One registry per process (or per test), never the prom-client global. */
export function createMetrics(options = { processMetrics: false }, now = Date.now) {
    const registry = new Registry();
    if (options.processMetrics)
        collectDefaultMetrics({ register: registry });
    let certificateNotAfter;
    new Gauge({
        name: 'sre_quero_certificate_expiry_seconds',
        help: 'Seconds until the serving certificate expires (negative once it has); alert well before 0 (README: certificates).',
        labelNames: ['certificate'],
        registers: [registry],
        collect() {
            if (certificateNotAfter !== undefined)
                this.set({ certificate: 'serving' }, (certificateNotAfter - now()) / 1000);
        },
    });
    return {
        registry,
        setCertificateNotAfter: (epochMs) => {
            certificateNotAfter = epochMs;
        },
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
        injectedSidecars: new Counter({
            name: 'sre_quero_injected_sidecars_total',
            help: 'Sidecars injected, by sidecar mode (classic, native), what chose it (settings, annotation, auto:<reason>) and agent (promtail, alloy).',
            labelNames: ['sidecar_mode', 'chosen_by', 'agent'],
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
        reconciles: new Counter({
            name: 'sre_quero_reconciles_total',
            help: 'Namespace reconciliations by the reconciler, by result (ok, error).',
            labelNames: ['result'],
            registers: [registry],
        }),
        reconcileConflicts: new Counter({
            name: 'sre_quero_reconcile_conflicts_total',
            help: 'Objects the reconciler left alone because of a conflict, by kind (Service, ConfigMap) and reason.',
            labelNames: ['kind', 'reason'],
            registers: [registry],
        }),
        reconcilerRequests: new Counter({
            name: 'sre_quero_reconciler_api_requests_total',
            help: 'Kubernetes API requests made by the reconciler, by verb (list, watch, get, apply, create, lease).',
            labelNames: ['verb'],
            registers: [registry],
        }),
        reconcilerLeader: new Gauge({
            name: 'sre_quero_reconciler_leader',
            help: '1 while this replica holds the reconciler lease.',
            registers: [registry],
        }),
        sidecarReloads: new Counter({
            name: 'sre_quero_sidecar_reloads_total',
            help: 'Running sidecars asked to reload after their ConfigMap changed, by how it ended (reloaded, invalid, unsupported, timeout).',
            labelNames: ['result'],
            registers: [registry],
        }),
    };
}
//# sourceMappingURL=metrics.js.map