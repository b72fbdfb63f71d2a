import type { Clock } from '../clock.js';

// A keyed work queue shaped like client-go's (controller-runtime's): a key
// added many times before a worker takes it is processed once; a key is never
// processed by two workers at once (added while in progress, it runs again
// after); a failure retries the key with its own growing backoff, reset by a
// success. Keys are taken in the order they first became dirty.

export interface WorkQueueOptions<K> {
  /** Keys processed at once. */
  workers: number;
  /** Reconciles one key; a rejection retries it after `backoffMs(failures so far)`. */
  process(key: K): Promise<void>;
  backoffMs(attempt: number): number;
  clock: Clock;
  /** Told of each failure and when the key runs again. */
  onError?(key: K, error: unknown, retryInMs: number): void;
  onSuccess?(key: K): void;
}

export class WorkQueue<K> {
  /** Waiting keys, in order; each at most once. */
  private readonly queue: K[] = [];
  private readonly dirty = new Set<K>();
  private readonly processing = new Set<K>();
  private readonly failures = new Map<K, number>();
  private readonly retries = new Map<K, unknown>();
  private busyWorkers = 0;
  private shuttingDown = false;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly options: WorkQueueOptions<K>) {
    if (!(Number.isInteger(options.workers) && options.workers > 0)) throw new RangeError(`workers must be a positive integer, got ${options.workers}`);
  }

  /** Marks the key dirty; it is processed once, however often it is added before a worker takes it. */
  add(key: K): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.dirty.add(key);
    // In progress: it goes back in line when its worker is done.
    if (!this.processing.has(key)) this.queue.push(key);
    this.startWorkers();
  }

  /** Adds the key after `ms`; a pending delayed add of the same key is replaced. */
  addAfter(key: K, ms: number): void {
    if (this.shuttingDown) return;
    const { clock } = this.options;
    const pending = this.retries.get(key);
    if (pending !== undefined) clock.clearTimeout(pending);
    this.retries.set(
      key,
      clock.setTimeout(() => {
        this.retries.delete(key);
        this.add(key);
      }, ms),
    );
  }

  /** Keys waiting or in progress. */
  get length(): number {
    return this.dirty.size + this.processing.size;
  }

  /** Resolves once no key is waiting or in progress (delayed retries do not count). */
  idle(): Promise<void> {
    if (this.busyWorkers === 0 && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stops taking keys, drops waiting ones and pending retries, and resolves once the keys in progress are done. */
  async shutDown(): Promise<void> {
    this.shuttingDown = true;
    for (const handle of this.retries.values()) this.options.clock.clearTimeout(handle);
    this.retries.clear();
    this.queue.length = 0;
    this.dirty.clear();
    await this.idle();
  }

  private startWorkers(): void {
    while (!this.shuttingDown && this.busyWorkers < this.options.workers && this.queue.length > 0) {
      this.busyWorkers++;
      // A microtask later, so keys added in the same turn (a burst of watch events) are seen as one.
      queueMicrotask(() => void this.work());
    }
  }

  private async work(): Promise<void> {
    for (let key = this.queue.shift(); key !== undefined; key = this.queue.shift()) {
      this.dirty.delete(key);
      this.processing.add(key);
      try {
        await this.options.process(key);
        this.failures.delete(key);
        this.options.onSuccess?.(key);
      } catch (error) {
        const attempt = this.failures.get(key) ?? 0;
        this.failures.set(key, attempt + 1);
        const delay = this.options.backoffMs(attempt);
        this.options.onError?.(key, error, delay);
        this.addAfter(key, delay);
      } finally {
        this.processing.delete(key);
        // Added again while in progress: back in line now.
        if (this.dirty.has(key) && !this.shuttingDown) this.queue.push(key);
      }
      if (this.shuttingDown) break;
    }
    this.busyWorkers--;
    if (this.busyWorkers === 0 && this.queue.length === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
  }
}
