// What bench/https.ts and its server process (bench/https-server.ts) agree on.

/**
 * mutate: the real app's /mutate. bare: a Fastify route that parses the body
 * and answers a fixed `allowed`. floor: the real app (its logger, hooks,
 * parsers, metrics registry) on a route that reads the review and sends the
 * recipe's answer, injected once at start: the same bytes as /mutate, without
 * the injection, so mutate - floor is what the injection itself costs.
 */
export type Target = 'mutate' | 'floor' | 'bare';
export const TARGETS: readonly Target[] = ['mutate', 'floor', 'bare'];
export const TARGET_PATHS: Readonly<Record<Target, string>> = { mutate: '/mutate', floor: '/floor', bare: '/bare' };
export const BODY_LIMIT_BYTES = 8 * 1024 * 1024;

/** Parent -> server over the IPC channel. */
export type ParentMessage = { type: 'usage' } | { type: 'stop' };
/** Server -> parent over the IPC channel. */
export type ChildMessage =
  | { type: 'ready'; port: number; pid: number }
  | { type: 'usage'; cpuMicros: number; rssBytes: number; heapUsedBytes: number };
