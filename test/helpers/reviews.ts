import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import jsonPatch, { type Operation } from 'fast-json-patch';
import { buildApp, type AppDeps } from '../../src/app.js';
import { DEFAULT_SETTINGS } from '../../src/injection/index.js';
import { createLogger } from '../../src/logger.js';
import { createMetrics } from '../../src/metrics.js';

export type Json = Record<string, any>;

export const fixtureUrl = (name: string): URL => new URL(`../fixtures/${name}`, import.meta.url);
export const readJson = (name: string): Json => JSON.parse(readFileSync(fixtureUrl(name), 'utf8'));

/** The recipe's review as the API server sends it; a fresh copy each call. */
export const recipeReview = (): Json => readJson('reviews/simple-webapp.v1.json');

export function decodePatch(response: Json): Operation[] {
  return JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8'));
}

/** What the API server does with our answer: apply the patch to the object it sent. */
export function applyResponse(object: Json, response: Json): Json {
  return jsonPatch.applyPatch(structuredClone(object), decodePatch(response), true, false).newDocument;
}

export interface TestApp {
  app: ReturnType<typeof buildApp>;
  logLines: () => Json[];
  metrics: ReturnType<typeof createMetrics>;
}

/** The real app with a captured logger, for app.inject(). */
/** `logLevel` debug by default, so every review's line is captured (routine ones are debug). */
export function testApp(overrides: Partial<AppDeps> = {}, logLevel = 'debug'): TestApp {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  const metrics = createMetrics();
  const app = buildApp({
    logger: createLogger(logLevel, sink),
    settings: DEFAULT_SETTINGS,
    metrics,
    bodyLimitBytes: 8 * 1024 * 1024,
    ...overrides,
  });
  return { app, metrics, logLines: () => lines.map((line) => JSON.parse(line)) };
}
