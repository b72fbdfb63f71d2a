import type { ServerOptions } from 'node:https';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify';
import { registerAdmissionRoutes } from './admission/routes.js';
import type { InjectorSettings, NodeFacts } from './injection/index.js';
import type { Metrics } from './metrics.js';

export interface AppDeps {
  logger: FastifyBaseLogger;
  settings: InjectorSettings;
  metrics: Metrics;
  bodyLimitBytes: number;
  /** TLS for the listening server; tests that use inject() leave it out. */
  https?: ServerOptions;
  /** Node kubelet versions for sidecar mode `auto` (a node informer); none: auto means classic. */
  nodes?: () => NodeFacts | undefined;
  /** Readiness beyond "the process is up" (e.g. caches synced). */
  isReady?: () => boolean;
}

interface ErrorBody {
  error: string;
  message: string;
}

/** Builds the webhook server without listening: main.ts listens, tests use inject(). */
export function buildApp(deps: AppDeps): FastifyInstance {
  const app = Fastify({
    loggerInstance: deps.logger,
    // One line per review comes from the route; Fastify's own per-request lines would double it.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: deps.bodyLimitBytes,
    return503OnClosing: true,
    ...(deps.https ? { https: deps.https } : {}),
  }) as unknown as FastifyInstance;

  // AdmissionReviews are JSON; anything else is the wrong media type (415).
  app.removeContentTypeParser('text/plain');

  app.setErrorHandler((error: FastifyError, request, reply) => {
    const status = error.statusCode ?? 500;
    if (status >= 500) {
      request.log.error({ err: error, url: request.url }, 'request failed');
      return reply.code(500).send({ error: 'SQ_INTERNAL', message: 'internal error; see the webhook log' } satisfies ErrorBody);
    }
    const code = error.code ?? 'SQ_BAD_REQUEST';
    deps.metrics.invalidRequests.inc({ code });
    request.log.warn({ url: request.url, status, code, message: error.message }, 'request rejected');
    return reply.code(status).send({ error: code, message: error.message } satisfies ErrorBody);
  });

  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({ error: 'SQ_NOT_FOUND', message: `no route for ${request.method} ${request.url}` } satisfies ErrorBody),
  );

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const ready = deps.isReady?.() ?? true;
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready' });
  });
  app.get('/metrics', async (_request, reply) =>
    reply.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics()),
  );

  registerAdmissionRoutes(app, deps);
  return app;
}
