import type { ServerOptions } from 'node:https';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify';
import type { RefusedPod } from './admission/refusal-events.js';
import { registerAdmissionRoutes } from './admission/routes.js';
import { BadRequestError, InternalError, NotFoundError, type CodedError } from './errors.js';
import type { InjectorSettings, NodeFacts } from './injection/index.js';
import type { Metrics } from './metrics.js';

export interface AppDeps {
  logger: FastifyBaseLogger;
  settings: InjectorSettings;
  metrics: Metrics;
  bodyLimitBytes: number;
  /** TLS for the listening server; tests that use inject() leave it out. */
  https?: ServerOptions;
  /** Node kubelet versions for sidecar mode `auto` (a node informer); none: auto means classic. The same object while they are the same (routes.ts). */
  nodes?: () => NodeFacts | undefined;
  /** Told of refused pods (Events on their owners); none without cluster access. */
  refusals?: { report(refused: RefusedPod): void };
  /** Readiness beyond "the process is up" (e.g. caches synced). */
  isReady?: () => boolean;
  /** The install namespace (SRE_QUERO_NAMESPACE): never injected nor checked; the enforcement message names it. */
  namespace?: string;
}

interface ErrorBody {
  error: string;
  message: string;
}

const bodyOf = (error: Pick<CodedError, 'code' | 'message'>): ErrorBody => ({ error: error.code, message: error.message });
const INTERNAL = bodyOf(new InternalError());

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
      deps.metrics.internalErrors.inc();
      request.log.error({ err: error, url: request.url }, 'request failed');
      return reply.code(InternalError.statusCode).send(INTERNAL);
    }
    const code = error.code ?? BadRequestError.code;
    deps.metrics.invalidRequests.inc({ code });
    request.log.warn({ url: request.url, status, code, message: error.message }, 'request rejected');
    return reply.code(status).send(bodyOf({ code, message: error.message }));
  });

  app.setNotFoundHandler((request, reply) => reply.code(NotFoundError.statusCode).send(bodyOf(new NotFoundError(request.method, request.url))));

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
