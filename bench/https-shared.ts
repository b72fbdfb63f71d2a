// What bench/https.ts and its server process (bench/https-server.ts) agree on.

export type Target = 'mutate' | 'bare';
export const TARGETS: readonly Target[] = ['mutate', 'bare'];
export const TARGET_PATHS: Readonly<Record<Target, string>> = { mutate: '/mutate', bare: '/bare' };
export const BODY_LIMIT_BYTES = 8 * 1024 * 1024;

/** Parent -> server over the IPC channel. */
export type ParentMessage = { type: 'usage' } | { type: 'stop' };
/** Server -> parent over the IPC channel. */
export type ChildMessage =
  | { type: 'ready'; port: number; pid: number }
  | { type: 'usage'; cpuMicros: number; rssBytes: number; heapUsedBytes: number };
