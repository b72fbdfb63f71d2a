import { hostname } from 'node:os';
import { CoordinationV1Api } from '@kubernetes/client-node';
import { systemClock } from '../clock.js';
import { CacheSyncTimeoutError } from '../errors.js';
import { LEASE_NAME } from '../webhook-contract.js';
import { apiErrorMessage } from './kube.js';
import { electLeader } from './lease.js';
import { Reconciler } from './reconciler.js';
import { sidecarRequest, SidecarReloader } from './sidecar-reload.js';
const RELOAD_WARNINGS = {
    invalid: 'sidecar refused the new config and keeps running the old one; fix the template',
    unsupported: 'sidecar has no reload endpoint (a promtail injected by an older sre-quero); it gets the new config when the pod restarts',
    timeout: 'sidecar still ran the old config when the reload window ended (promtail: "config has not changed"; alloy: alloy_config_hash of the old file): the kubelet had not rewritten its file, or it already ran this config',
};
/**
 * Campaigns for the reconciler lease; only the leader runs informers and
 * writes. Losing the lease stops the reconciler; another replica takes over
 * within the lease duration.
 */
export function runReconciler(options) {
    const { kc, logger, metrics } = options;
    const reconciler = new Reconciler({
        kc,
        logger,
        metrics,
        clock: systemClock,
        ...(options.cacheSyncTimeoutMs === undefined ? {} : { cacheSyncTimeoutMs: options.cacheSyncTimeoutMs }),
        defaults: { metricsPort: options.settings.metricsPort, configMap: options.settings.configMap },
        template: { namespace: options.namespace, name: options.templateConfigMap },
        reloader: new SidecarReloader({
            post: (url) => sidecarRequest('POST', url),
            get: (url) => sidecarRequest('GET', url),
            clock: systemClock,
            onResult: (target, result, detail) => {
                metrics.sidecarReloads.inc({ result });
                const fields = { pod: `${target.namespace}/${target.pod}`, agent: target.agent, result, detail };
                if (result === 'reloaded')
                    logger.info(fields, 'sidecar reloaded the new config');
                else
                    logger.warn(fields, RELOAD_WARNINGS[result]);
            },
        }),
    });
    const identity = options.identity ?? `${hostname()}_${process.pid}`;
    const leases = kc.makeApiClient(CoordinationV1Api);
    const counted = (call) => (...args) => {
        metrics.reconcilerRequests.inc({ verb: 'lease' });
        return call(...args);
    };
    const election = electLeader({
        api: {
            readNamespacedLease: counted(leases.readNamespacedLease.bind(leases)),
            createNamespacedLease: counted(leases.createNamespacedLease.bind(leases)),
            replaceNamespacedLease: counted(leases.replaceNamespacedLease.bind(leases)),
        },
        namespace: options.namespace,
        name: LEASE_NAME,
        identity,
        leaseDurationMs: options.leaseDurationMs,
        renewIntervalMs: Math.round(options.leaseDurationMs / 3),
        retryIntervalMs: Math.round(options.leaseDurationMs / 7.5),
        logger,
        onStartedLeading: () => {
            metrics.reconcilerLeader.set(1);
            logger.info({ identity }, 'reconciler lease acquired; reconciling');
            // Not awaited: the caches sync in the background and readiness waits for them.
            reconciler.start().catch((error) => {
                logger.error({ err: apiErrorMessage(error) }, 'reconciler failed to start');
                // Caches that cannot sync here may sync on another replica: give the
                // lease back (stop releases it), and campaign again a lease later.
                if (error instanceof CacheSyncTimeoutError && !stopped) {
                    void election.stop().then(() => {
                        if (!stopped)
                            systemClock.setTimeout(() => !stopped && election.start(), options.leaseDurationMs);
                    });
                }
            });
        },
        onStoppedLeading: async () => {
            metrics.reconcilerLeader.set(0);
            logger.info({ identity }, 'reconciler lease lost or released; stopping');
            await reconciler.stop();
        },
    });
    let stopped = false;
    election.start();
    return {
        isReady: () => !election.isLeader() || reconciler.isSynced(),
        isLeader: () => election.isLeader(),
        stop: () => {
            stopped = true;
            return election.stop();
        },
    };
}
//# sourceMappingURL=run.js.map