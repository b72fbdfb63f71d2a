// Makes a template change reach running sidecars. The kubelet rewrites a
// ConfigMap volume in place some time after the ConfigMap changes (at the
// pod's next sync: seconds, up to its sync period plus cache delay), but
// promtail reads its config only at start, on SIGHUP, or on POST /reload
// (-server.enable-runtime-reload). So after the reconciler updates a
// namespace's ConfigMap, every sidecar that mounts it is asked to reload,
// again and again with backoff, until promtail says it loaded a new config
// or the window for the kubelet's update has passed.
//
// Asking early is harmless: promtail compares the file with what it runs and
// answers "config has not changed" without touching its tailers. Nothing here
// restarts or deletes a pod. Pending reloads live in memory; a new leader
// does not inherit them (README: "Template changes").

import type { Clock } from '../clock.js';

export type ReloadAnswer = 'reloaded' | 'unchanged' | 'invalid' | 'unsupported' | 'unreachable';
/** How a pod's reload ended: its last answer, or `timeout` when the window passed with the old config still running. */
export type ReloadResult = Exclude<ReloadAnswer, 'unchanged' | 'unreachable'> | 'timeout';

/** promtail's answer to POST /reload (status, body) in words. `status` undefined: no HTTP answer. */
export function classifyReloadAnswer(status: number | undefined, body: string): ReloadAnswer {
  if (status === undefined) return 'unreachable';
  if (status >= 200 && status < 300) return 'reloaded';
  // Sidecars injected before the flag existed have no /reload route.
  if (status === 404 || status === 405) return 'unsupported';
  if (status === 500 && body.includes('config has not changed')) return 'unchanged';
  // Any other 500: promtail read the new file and refused it (it keeps running the old config).
  if (status === 500) return 'invalid';
  return 'unreachable';
}

export interface ReloadTarget {
  /** Identifies the pod across calls: namespace/name/uid. */
  key: string;
  namespace: string;
  pod: string;
  url: string;
}

export interface SidecarReloaderOptions {
  /** POSTs to `url`; resolves with the HTTP status and body, or `status: undefined` when nothing answered. */
  post(url: string): Promise<{ status: number | undefined; body: string }>;
  clock: Clock;
  onResult(target: ReloadTarget, result: ReloadResult, detail: string): void;
  /** How long after a change to keep asking: the kubelet's sync period plus its cache delay, with room. */
  windowMs?: number;
  firstDelayMs?: number;
  maxDelayMs?: number;
}

interface Pending {
  target: ReloadTarget;
  deadline: number;
  attempt: number;
  timer: unknown;
  inFlight: boolean;
  /** Asked again while a request was out: try once more after it, whatever it says. */
  again: boolean;
}

export const RELOAD_WINDOW_MS = 180_000;

export class SidecarReloader {
  private readonly pending = new Map<string, Pending>();

  constructor(private readonly options: SidecarReloaderOptions) {}

  /** Starts (or restarts, with a fresh window) asking each target to reload. */
  request(targets: readonly ReloadTarget[]): void {
    const deadline = this.options.clock.now() + (this.options.windowMs ?? RELOAD_WINDOW_MS);
    for (const target of targets) {
      const existing = this.pending.get(target.key);
      if (existing !== undefined) {
        existing.target = target;
        existing.deadline = deadline;
        existing.attempt = 0;
        if (existing.inFlight) existing.again = true;
        else this.schedule(existing);
        continue;
      }
      const entry: Pending = { target, deadline, attempt: 0, timer: undefined, inFlight: false, again: false };
      this.pending.set(target.key, entry);
      this.schedule(entry);
    }
  }

  /** The pod is gone: stop asking it. */
  forget(key: string): void {
    const entry = this.pending.get(key);
    if (entry === undefined) return;
    this.options.clock.clearTimeout(entry.timer);
    this.pending.delete(key);
  }

  pendingCount(): number {
    return this.pending.size;
  }

  /** Cancels every pending reload (leadership lost); request() works again afterwards. */
  stop(): void {
    for (const key of [...this.pending.keys()]) this.forget(key);
  }

  private schedule(entry: Pending): void {
    const first = this.options.firstDelayMs ?? 1000;
    const delay = Math.min(this.options.maxDelayMs ?? 15_000, first * 2 ** entry.attempt);
    this.options.clock.clearTimeout(entry.timer);
    entry.timer = this.options.clock.setTimeout(() => void this.ask(entry), delay);
  }

  private async ask(entry: Pending): Promise<void> {
    if (this.pending.get(entry.target.key) !== entry) return;
    entry.inFlight = true;
    entry.again = false;
    let answer: ReloadAnswer;
    let detail: string;
    try {
      const reply = await this.options.post(entry.target.url);
      answer = classifyReloadAnswer(reply.status, reply.body);
      detail = (reply.status === undefined ? reply.body : `${reply.status} ${reply.body}`).trim().slice(0, 300);
    } catch (error) {
      answer = 'unreachable';
      detail = String(error);
    }
    entry.inFlight = false;
    if (this.pending.get(entry.target.key) !== entry) return;
    if (entry.again) {
      entry.attempt = 0;
      return this.schedule(entry);
    }
    if (answer === 'reloaded' || answer === 'invalid' || answer === 'unsupported') return this.finish(entry, answer, detail);
    // unchanged (the kubelet has not written the file yet) or unreachable (a restart, a probe of a pod going away).
    if (this.options.clock.now() >= entry.deadline) return this.finish(entry, 'timeout', detail);
    entry.attempt++;
    this.schedule(entry);
  }

  private finish(entry: Pending, result: ReloadResult, detail: string): void {
    this.pending.delete(entry.target.key);
    this.options.onResult(entry.target, result, detail);
  }
}

/** POST with a timeout, over the pod network. */
export async function postReload(url: string, timeoutMs = 3000): Promise<{ status: number | undefined; body: string }> {
  try {
    const reply = await fetch(url, { method: 'POST', signal: AbortSignal.timeout(timeoutMs) });
    return { status: reply.status, body: await reply.text() };
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause?.code;
    return { status: undefined, body: cause ?? String(error) };
  }
}

