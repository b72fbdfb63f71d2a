import { hostname } from 'node:os';
import { CoordinationV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { FastifyBaseLogger } from 'fastify';
import type { InjectorSettings } from '../injection/index.js';
import type { Metrics } from '../metrics.js';
import { systemClock } from '../clock.js';
import { CacheSyncTimeoutError } from '../errors.js';
import { LEASE_NAME } from '../webhook-contract.js';
import { apiErrorMessage } from './kube.js';
import { electLeader } from './lease.js';
import { Reconciler } from './reconciler.js';
import { sidecarRequest, SidecarReloader, type ReloadResult } from './sidecar-reload.js';

const RELOAD_WARNINGS: Record<Exclude<ReloadResult, 'reloaded'>, string> = {
  invalid: 'sidecar refused the new config and keeps running the old one; fix the template',
  unsupported: 'sidecar has no reload endpoint (a promtail injected by an older sre-quero); it gets the new config when the pod restarts',
  timeout:
    'sidecar still ran the old config when the reload window ended (promtail: "config has not changed"; alloy: alloy_config_hash of the old file): the kubelet had not rewritten its file, or it already ran this config',
};

export interface RunningReconciler {
  /** False only while this replica leads and its caches are not yet synced. */
  isReady(): boolean;
  isLeader(): boolean;
  stop(): Promise<void>;
}

/**
 * Campaigns for the reconciler lease; only the leader runs informers and
 * writes. Losing the lease stops the reconciler; another replica takes over
 * within the lease duration.
 */
export function runReconciler(options: {
  kc: KubeConfig;
  logger: FastifyBaseLogger;
  metrics: Metrics;
  settings: InjectorSettings;
  namespace: string;
  templateConfigMap: string;
  leaseDurationMs: number;
  identity?: string;
  /** How long the caches may take to sync before this replica gives the lease back (default 2 min). */
  cacheSyncTimeoutMs?: number;
}): RunningReconciler {
  const { kc, logger, metrics } = options;
  const reconciler = new Reconciler({
    kc,
    logger,
    metrics,
    clock: systemClock,
    ...(options.cacheSyncTimeoutMs === undefined ? {} : { cacheSyncTimeoutMs: options.cacheSyncTimeoutMs }),
    defaults: { metricsPort: options.settings.metricsPort, configMap: options.settings.configMap },
    settings: options.settings,
    template: { namespace: options.namespace, name: options.templateConfigMap },
    reloader: new SidecarReloader({
      post: (url) => sidecarRequest('POST', url),
      get: (url) => sidecarRequest('GET', url),
      clock: systemClock,
      onResult: (target, result, detail) => {
        metrics.sidecarReloads.inc({ result });
        const fields = { pod: `${target.namespace}/${target.pod}`, agent: target.agent, result, detail };
        if (result === 'reloaded') logger.info(fields, 'sidecar reloaded the new config');
        else logger.warn(fields, RELOAD_WARNINGS[result]);
      },
    }),
  });
  const identity = options.identity ?? `${hostname()}_${process.pid}`;
  const leases = kc.makeApiClient(CoordinationV1Api);
  const counted = <A extends unknown[], R>(call: (...args: A) => R) => (...args: A): R => {
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
      reconciler.start().catch((error: unknown) => {
        logger.error({ err: apiErrorMessage(error) }, 'reconciler failed to start');
        // Caches that cannot sync here may sync on another replica: give the
        // lease back (stop releases it), and campaign again a lease later.
        if (error instanceof CacheSyncTimeoutError && !stopped) {
          void election.stop().then(() => {
            if (!stopped) systemClock.setTimeout(() => !stopped && election.start(), options.leaseDurationMs);
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
