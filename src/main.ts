import closeWithGrace from 'close-with-grace';
import { buildApp } from './app.js';
import { DEV_CERT_DIR, loadServeConfig } from './config.js';
import { createLogger } from './logger.js';
import { createMetrics } from './metrics.js';
import { ensureDevCertificate, readTls, watchCertificate } from './tls.js';

/** `sre-quero serve`: wiring only. Returns once the server listens. */
export async function serve(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<void> {
  const config = loadServeConfig(argv, env);
  const logger = createLogger(config.logLevel);
  if (config.tls.dev && ensureDevCertificate(DEV_CERT_DIR)) {
    logger.warn({ dir: DEV_CERT_DIR }, 'created a development certificate for localhost; do not use it in a cluster');
  }
  const tls = readTls(config.tls.certFile, config.tls.keyFile);
  const metrics = createMetrics({ processMetrics: true });
  let closing = false;
  const app = buildApp({
    logger,
    settings: config.settings,
    metrics,
    bodyLimitBytes: config.bodyLimitBytes,
    https: tls,
    isReady: () => !closing,
  });
  const certificates = watchCertificate({
    server: app.server as unknown as import('node:https').Server,
    certFile: config.tls.certFile,
    keyFile: config.tls.keyFile,
    current: tls,
    intervalMs: config.certReloadIntervalMs,
    logger,
    metrics,
  });

  // SIGTERM: stop accepting, let in-flight reviews finish, then exit.
  closeWithGrace({ delay: config.shutdownTimeoutMs, logger }, async ({ signal, err }) => {
    closing = true;
    if (err) logger.error({ err }, 'shutting down after an error');
    else logger.info({ signal }, 'shutting down');
    certificates.stop();
    await app.close();
  });

  const address = await app.listen({ host: config.listen.host, port: config.listen.port });
  logger.info(
    { address, settingsFile: config.settingsFile ?? '(built-in defaults)', devCertificate: config.tls.dev },
    'sre-quero webhook serving',
  );
}
