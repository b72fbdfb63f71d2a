export class WorkQueue {
    options;
    /** Waiting keys, in order; each at most once. */
    queue = [];
    dirty = new Set();
    processing = new Set();
    failures = new Map();
    retries = new Map();
    busyWorkers = 0;
    shuttingDown = false;
    idleWaiters = [];
    constructor(options) {
        this.options = options;
        if (!(Number.isInteger(options.workers) && options.workers > 0))
            throw new RangeError(`workers must be a positive integer, got ${options.workers}`);
    }
    /** Marks the key dirty; it is processed once, however often it is added before a worker takes it. */
    add(key) {
        if (this.shuttingDown || this.dirty.has(key))
            return;
        this.dirty.add(key);
        // In progress: it goes back in line when its worker is done.
        if (!this.processing.has(key))
            this.queue.push(key);
        this.startWorkers();
    }
    /** Adds the key after `ms`; a pending delayed add of the same key is replaced. */
    addAfter(key, ms) {
        if (this.shuttingDown)
            return;
        const { clock } = this.options;
        const pending = this.retries.get(key);
        if (pending !== undefined)
            clock.clearTimeout(pending);
        this.retries.set(key, clock.setTimeout(() => {
            this.retries.delete(key);
            this.add(key);
        }, ms));
    }
    /** Keys waiting or in progress. */
    get length() {
        return this.dirty.size + this.processing.size;
    }
    /** Resolves once no key is waiting or in progress (delayed retries do not count). */
    idle() {
        if (this.busyWorkers === 0 && this.queue.length === 0)
            return Promise.resolve();
        return new Promise((resolve) => this.idleWaiters.push(resolve));
    }
    /** Stops taking keys, drops waiting ones and pending retries, and resolves once the keys in progress are done. */
    async shutDown() {
        this.shuttingDown = true;
        for (const handle of this.retries.values())
            this.options.clock.clearTimeout(handle);
        this.retries.clear();
        this.queue.length = 0;
        this.dirty.clear();
        await this.idle();
    }
    startWorkers() {
        while (!this.shuttingDown && this.busyWorkers < this.options.workers && this.queue.length > 0) {
            this.busyWorkers++;
            // A microtask later, so keys added in the same turn (a burst of watch events) are seen as one.
            queueMicrotask(() => void this.work());
        }
    }
    async work() {
        for (let key = this.queue.shift(); key !== undefined; key = this.queue.shift()) {
            this.dirty.delete(key);
            this.processing.add(key);
            try {
                await this.options.process(key);
                this.failures.delete(key);
                this.options.onSuccess?.(key);
            }
            catch (error) {
                const attempt = this.failures.get(key) ?? 0;
                this.failures.set(key, attempt + 1);
                const delay = this.options.backoffMs(attempt);
                this.options.onError?.(key, error, delay);
                this.addAfter(key, delay);
            }
            finally {
                this.processing.delete(key);
                // Added again while in progress: back in line now.
                if (this.dirty.has(key) && !this.shuttingDown)
                    this.queue.push(key);
            }
            if (this.shuttingDown)
                break;
        }
        this.busyWorkers--;
        if (this.busyWorkers === 0 && this.queue.length === 0)
            for (const resolve of this.idleWaiters.splice(0))
                resolve();
    }
}
//# sourceMappingURL=work-queue.js.map