import Fastify, { LogController } from 'fastify';
import { registerAdmissionRoutes } from './admission/routes.js';
import { BadRequestError, InternalError, NotFoundError } from './errors.js';
const bodyOf = (error) => ({ error: error.code, message: error.message });
const INTERNAL = bodyOf(new InternalError());
/** Builds the webhook server without listening: main.ts listens, tests use inject(). */
export function buildApp(deps) {
    const app = Fastify({
        loggerInstance: deps.logger,
        // One line per review comes from the route; Fastify's own per-request lines would double it.
        logController: new LogController({ disableRequestLogging: true }),
        bodyLimit: deps.bodyLimitBytes,
        return503OnClosing: true,
        ...(deps.https ? { https: deps.https } : {}),
    });
    // AdmissionReviews are JSON; anything else is the wrong media type (415).
    app.removeContentTypeParser('text/plain');
    app.setErrorHandler((error, request, reply) => {
        const status = error.statusCode ?? 500;
        if (status >= 500) {
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
    app.get('/metrics', async (_request, reply) => reply.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics()));
    registerAdmissionRoutes(app, deps);
    return app;
}
//# sourceMappingURL=app.js.map