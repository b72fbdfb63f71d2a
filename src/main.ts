import type { Server } from 'node:https';
import closeWithGrace from 'close-with-grace';
import type { FastifyBaseLogger } from 'fastify';
import { buildApp } from './app.js';
import { DEV_CERT_DIR, loadServeConfig, reconcilerTarget, type ClusterSource, type ServeConfig } from './config.js';
import { ConfigInvalidError } from './errors.js';
import { createLogger } from './logger.js';
import { createMetrics, type Metrics } from './metrics.js';
import type { NodeVersions } from './cluster/node-versions.js';
import type { RefusalEvents } from './admission/refusal-events.js';
import type { RunningReconciler } from './reconciler/run.js';
import { ensureDevCertificate, readTls, watchCertificate } from './tls.js';

// Loaded only when a cluster is configured, so the webhook alone starts without client-node.
async function startReconciler(config: ServeConfig, cluster: ClusterSource, logger: FastifyBaseLogger, metrics: Metrics): Promise<RunningReconciler> {
  const [{ kubeConfigFor }, { runReconciler }] = await Promise.all([import('./reconciler/kube.js'), import('./reconciler/run.js')]);
  const { namespace, templateConfigMap, leaseDurationMs } = config.reconciler;
  return runReconciler({ kc: kubeConfigFor(cluster), logger, metrics, settings: config.settings, namespace, templateConfigMap, leaseDurationMs });
}

// Node versions for sidecar mode `auto`, from the same cluster connection.
async function startNodeVersions(cluster: ClusterSource, logger: FastifyBaseLogger): Promise<NodeVersions> {
  const [{ kubeConfigFor }, { watchNodeVersions }] = await Promise.all([import('./reconciler/kube.js'), import('./cluster/node-versions.js')]);
  return watchNodeVersions(kubeConfigFor(cluster), logger);
}

// Events on the owners of refused pods, from the same cluster connection (the
// ServiceAccount may create Events and read ReplicaSets and Jobs). Without a
// cluster (--reconciler off, a workstation) there are none.
async function startRefusalEvents(cluster: ClusterSource, logger: FastifyBaseLogger, metrics: Metrics): Promise<RefusalEvents> {
  const [{ kubeConfigFor }, { eventsApi }, { RefusalEvents }, { systemClock }] = await Promise.all([
    import('./reconciler/kube.js'),
    import('./cluster/events-api.js'),
    import('./admission/refusal-events.js'),
    import('./clock.js'),
  ]);
  return new RefusalEvents({ api: eventsApi(kubeConfigFor(cluster)), clock: systemClock, log: logger, onResult: (result) => metrics.refusalEvents.inc({ result }) });
}

/** `sre-quero serve`: wiring only. Returns once the server listens. */
export async function serve(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<void> {
  const config = loadServeConfig(argv, env);
  const logger = createLogger(config.logLevel);
  if (config.tls.dev && (await ensureDevCertificate(DEV_CERT_DIR))) {
    logger.warn({ dir: DEV_CERT_DIR }, 'created a development certificate for localhost; do not use it in a cluster');
  }
  const tls = readTls(config.tls.certFile, config.tls.keyFile);
  const metrics = createMetrics({ processMetrics: true });
  const target = reconcilerTarget(config.reconciler);
  if (target.notStarted !== undefined) logger.warn(target.notStarted);
  const { cluster } = target;
  const reconciler = cluster ? await startReconciler(config, cluster, logger, metrics) : undefined;
  const nodes = cluster ? await startNodeVersions(cluster, logger) : undefined;
  const refusals = cluster ? await startRefusalEvents(cluster, logger, metrics) : undefined;
  // With `auto` as the default, answer only once the node versions are in, or early pods would get classic.
  const nodesReady = () => config.settings.sidecarMode !== 'auto' || nodes === undefined || nodes.facts() !== undefined;
  let closing = false;
  const app = buildApp({
    logger,
    settings: config.settings,
    metrics,
    bodyLimitBytes: config.bodyLimitBytes,
    https: tls,
    namespace: config.reconciler.namespace,
    ...(nodes ? { nodes: () => nodes.facts() } : {}),
    ...(refusals ? { refusals } : {}),
    isReady: () => !closing && (reconciler?.isReady() ?? true) && nodesReady(),
  });
  const certificates = watchCertificate({
    server: app.server as unknown as Server,
    certFile: config.tls.certFile,
    keyFile: config.tls.keyFile,
    current: tls,
    intervalMs: config.certReloadIntervalMs,
    logger,
    metrics,
    namespace: config.reconciler.namespace,
  });

  // SIGTERM: stop accepting, let in-flight reviews finish, hand the lease over, then exit.
  closeWithGrace({ delay: config.shutdownTimeoutMs, logger }, async ({ signal, err }) => {
    closing = true;
    if (err) logger.error({ err }, 'shutting down after an error');
    else logger.info({ signal }, 'shutting down');
    certificates.stop();
    await Promise.all([app.close(), reconciler?.stop(), nodes?.stop(), refusals?.idle()]);
  });

  const address = await app.listen({ host: config.listen.host, port: config.listen.port });
  logger.info(
    {
      address,
      settingsFile: config.settingsFile ?? '(built-in defaults)',
      devCertificate: config.tls.dev,
      reconciler: reconciler
        ? `campaigning for the lease on the cluster of ${cluster?.kind === 'kubeconfig' ? cluster.path : 'this pod'} (--reconciler off to stop it)`
        : 'off (no cluster to reconcile, or --reconciler off)',
      refusalEvents: refusals ? 'on: a Warning Event on the owner of each refused pod' : 'off (no cluster access)',
    },
    'sre-quero webhook serving',
  );
}

/** `sre-quero reconcile`: the reconciler alone, without the webhook. */
export async function reconcile(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<void> {
  const config = loadServeConfig(argv, env);
  // Asked for by name: any cluster found will do (see reconcilerTarget for serve).
  const cluster = config.reconciler.mode === 'off' ? undefined : config.reconciler.cluster;
  if (!cluster) {
    throw new ConfigInvalidError('reconcile needs a cluster: run in-cluster, or give --kubeconfig or KUBECONFIG (and not --reconciler off)');
  }
  const logger = createLogger(config.logLevel);
  const reconciler = await startReconciler(config, cluster, logger, createMetrics({ processMetrics: true }));
  closeWithGrace({ delay: config.shutdownTimeoutMs, logger }, async ({ signal }) => {
    logger.info({ signal }, 'shutting down');
    await reconciler.stop();
  });
  logger.info({ namespace: config.reconciler.namespace }, 'sre-quero reconciler running');
}
