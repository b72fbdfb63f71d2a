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
/** promtail's answer to POST /reload (status, body) in words. `status` undefined: no HTTP answer. */
export function classifyReloadAnswer(status, body) {
    if (status === undefined)
        return 'unreachable';
    if (status >= 200 && status < 300)
        return 'reloaded';
    // Sidecars injected before the flag existed have no /reload route.
    if (status === 404 || status === 405)
        return 'unsupported';
    if (status === 500 && body.includes('config has not changed'))
        return 'unchanged';
    // Any other 500: promtail read the new file and refused it (it keeps running the old config).
    if (status === 500)
        return 'invalid';
    return 'unreachable';
}
export const RELOAD_WINDOW_MS = 180_000;
export class SidecarReloader {
    options;
    pending = new Map();
    constructor(options) {
        this.options = options;
    }
    /** Starts (or restarts, with a fresh window) asking each target to reload. */
    request(targets) {
        const deadline = this.options.clock.now() + (this.options.windowMs ?? RELOAD_WINDOW_MS);
        for (const target of targets) {
            const existing = this.pending.get(target.key);
            if (existing !== undefined) {
                existing.target = target;
                existing.deadline = deadline;
                existing.attempt = 0;
                if (existing.inFlight)
                    existing.again = true;
                else
                    this.schedule(existing);
                continue;
            }
            const entry = { target, deadline, attempt: 0, timer: undefined, inFlight: false, again: false };
            this.pending.set(target.key, entry);
            this.schedule(entry);
        }
    }
    /** The pod is gone: stop asking it. */
    forget(key) {
        const entry = this.pending.get(key);
        if (entry === undefined)
            return;
        this.options.clock.clearTimeout(entry.timer);
        this.pending.delete(key);
    }
    pendingCount() {
        return this.pending.size;
    }
    /** Cancels every pending reload (leadership lost); request() works again afterwards. */
    stop() {
        for (const key of [...this.pending.keys()])
            this.forget(key);
    }
    schedule(entry) {
        const first = this.options.firstDelayMs ?? 1000;
        const delay = Math.min(this.options.maxDelayMs ?? 15_000, first * 2 ** entry.attempt);
        this.options.clock.clearTimeout(entry.timer);
        entry.timer = this.options.clock.setTimeout(() => void this.ask(entry), delay);
    }
    async ask(entry) {
        if (this.pending.get(entry.target.key) !== entry)
            return;
        entry.inFlight = true;
        entry.again = false;
        let answer;
        let detail;
        try {
            const reply = await this.options.post(entry.target.url);
            answer = classifyReloadAnswer(reply.status, reply.body);
            detail = (reply.status === undefined ? reply.body : `${reply.status} ${reply.body}`).trim().slice(0, 300);
        }
        catch (error) {
            answer = 'unreachable';
            detail = String(error);
        }
        entry.inFlight = false;
        if (this.pending.get(entry.target.key) !== entry)
            return;
        if (entry.again) {
            entry.attempt = 0;
            return this.schedule(entry);
        }
        if (answer === 'reloaded' || answer === 'invalid' || answer === 'unsupported')
            return this.finish(entry, answer, detail);
        // unchanged (the kubelet has not written the file yet) or unreachable (a restart, a probe of a pod going away).
        if (this.options.clock.now() >= entry.deadline)
            return this.finish(entry, 'timeout', detail);
        entry.attempt++;
        this.schedule(entry);
    }
    finish(entry, result, detail) {
        this.pending.delete(entry.target.key);
        this.options.onResult(entry.target, result, detail);
    }
}
/** POST with a timeout, over the pod network. */
export async function postReload(url, timeoutMs = 3000) {
    try {
        const reply = await fetch(url, { method: 'POST', signal: AbortSignal.timeout(timeoutMs) });
        return { status: reply.status, body: await reply.text() };
    }
    catch (error) {
        const cause = error.cause?.code;
        return { status: undefined, body: cause ?? String(error) };
    }
}
//# sourceMappingURL=sidecar-reload.js.map