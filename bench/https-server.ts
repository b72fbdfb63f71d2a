// The server side of bench/https.ts, run in its own process so the load
// generator does not share its event loop:
//   node --import tsx bench/https-server.ts <mutate|bare> <cert dir>
// It needs an IPC channel (the parent spawns it with 'ipc' in stdio), listens
// on 127.0.0.1 on a free port, reports {type:'ready', port}, answers
// {type:'usage'} with its CPU time, and exits on {type:'stop'} or when the
// parent goes away.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { answerReview } from '../src/admission/handle.js';
import { readReview } from '../src/admission/review.js';
import { buildApp } from '../src/app.js';
import { DEFAULT_SETTINGS } from '../src/injection/index.js';
import { createLogger } from '../src/logger.js';
import { createMetrics } from '../src/metrics.js';
import { BODY_LIMIT_BYTES, TARGETS, type ChildMessage, type ParentMessage, type Target } from './https-shared.js';
import { recipeBody } from './reviews.js';

const BARE_ANSWER = { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: 'x', allowed: true } };

function build(target: Target, https: { cert: string; key: string }): FastifyInstance {
  if (target === 'mutate' || target === 'floor') {
    const app = buildApp({
      logger: createLogger('silent'),
      settings: DEFAULT_SETTINGS,
      metrics: createMetrics(),
      bodyLimitBytes: BODY_LIMIT_BYTES,
      https,
    });
    if (target === 'floor') {
      const { answer } = answerReview(readReview(JSON.parse(recipeBody())), DEFAULT_SETTINGS, 'annotated');
      app.post('/floor', async (request, reply) => {
        readReview(request.body);
        return reply.type('application/json; charset=utf-8').send(answer);
      });
    }
    return app;
  }
  const app = Fastify({ https, bodyLimit: BODY_LIMIT_BYTES }) as unknown as FastifyInstance;
  // The default JSON parser has run by the time the handler sees the body.
  app.post('/bare', async (request) => {
    if (typeof request.body !== 'object' || request.body === null) throw new Error('no parsed body');
    return BARE_ANSWER;
  });
  return app;
}

async function main(): Promise<void> {
  const send = process.send?.bind(process);
  if (send === undefined) throw new Error('bench/https-server.ts is started by bench/https.ts (it needs an IPC channel)');
  const [target, certDir] = process.argv.slice(2);
  if (!TARGETS.includes(target as Target) || certDir === undefined) {
    throw new Error(`usage: https-server.ts <${TARGETS.join('|')}> <cert dir>`);
  }
  const tls = { cert: readFileSync(join(certDir, 'tls.crt'), 'utf8'), key: readFileSync(join(certDir, 'tls.key'), 'utf8') };
  const app = build(target as Target, tls);

  const stop = () => {
    // Do not wait for keep-alive sockets: the parent is done with them.
    setTimeout(() => process.exit(0), 500).unref();
    app.close().finally(() => process.exit(0));
  };
  process.on('disconnect', stop);
  process.on('message', (message: ParentMessage) => {
    if (message.type === 'stop') stop();
    else if (message.type === 'usage') {
      const cpu = process.cpuUsage();
      const memory = process.memoryUsage();
      send({ type: 'usage', cpuMicros: cpu.user + cpu.system, rssBytes: memory.rss, heapUsedBytes: memory.heapUsed } satisfies ChildMessage);
    }
  });

  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  send({ type: 'ready', port: address.port, pid: process.pid } satisfies ChildMessage);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
