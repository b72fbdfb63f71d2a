// Makes a template change reach running sidecars. The kubelet rewrites a
// ConfigMap volume in place some time after the ConfigMap changes (at the
// pod's next sync: seconds, up to its sync period plus cache delay), but
// promtail reads its config only at start, on SIGHUP, or on POST /reload
// (-server.enable-runtime-reload), and Alloy on SIGHUP or /-/reload. So
// after the reconciler updates a namespace's ConfigMap, every sidecar that
// mounts it is asked to reload, again and again with backoff, until it runs
// the new config, refuses it, or the window for the kubelet's update has
// passed. How to ask, and how to know it worked, depends on the agent (its
// status annotation says which; agents.ts `reload`):
//
// - promtail compares the file with what it runs and answers 500 "config has
//   not changed" without touching its tailers, 200 once it loaded a new one:
//   the answer says it all.
// - Alloy re-reads the file and answers 200 "config reloaded" whether or not
//   it changed (400 when it cannot load it), so a 200 proves nothing: it is
//   confirmed by GET /metrics, whose alloy_config_hash{sha256} is the SHA-256
//   of the file it loaded (one file: its bytes, as the kubelet writes the
//   ConfigMap value; internal/alloycli/cmd_run.go hashSourceFiles). Until
//   the kubelet rewrote the file, the hash names the old one. The hash alone
//   is not enough either: a file Alloy refuses is hashed too (with
//   alloy_config_last_load_successful 0), hence the reload answer first.
//
// Asking early is harmless: promtail keeps its tailers, Alloy re-applies the
// same config (its components keep their state). Nothing here restarts or
// deletes a pod. Pending reloads live in memory; a new leader does not
// inherit them (README: "Template changes").
import { createHash } from 'node:crypto';
import { AGENT_PROFILES } from '../injection/index.js';
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
/** The SHA-256 Alloy exports for a config of one file: that of the file's bytes (the ConfigMap value, UTF-8). */
export function alloyConfigHash(content) {
    return createHash('sha256').update(content, 'utf8').digest('hex');
}
const CONFIG_HASH_LINE = /^alloy_config_hash\{([^}]*)\}\s+1(?:\.0*)?(?:\s|$)/gm;
const SHA256_LABEL = /(?:^|,)\s*sha256="([0-9a-f]{64})"/;
/** The config hashes an Alloy /metrics page reports as loaded (one, normally). */
export function alloyConfigHashes(metrics) {
    const hashes = [];
    for (const line of metrics.matchAll(CONFIG_HASH_LINE)) {
        const hash = SHA256_LABEL.exec(line[1])?.[1];
        if (hash !== undefined)
            hashes.push(hash);
    }
    return hashes;
}
/**
 * Alloy's answer to POST /-/reload, then (after a 2xx only) its /metrics, in
 * words: `reloaded` only when the hash it reports is the new file's.
 */
export function classifyAlloyReload(reload, metrics, configHash) {
    if (reload.status === undefined)
        return 'unreachable';
    if (reload.status === 404 || reload.status === 405)
        return 'unsupported';
    // The file cannot be loaded (parse or evaluation error): Alloy keeps running the old config.
    if (reload.status === 400)
        return 'invalid';
    if (reload.status < 200 || reload.status >= 300)
        return 'unreachable';
    if (metrics?.status !== 200)
        return 'unreachable';
    return alloyConfigHashes(metrics.body).includes(configHash) ? 'reloaded' : 'unchanged';
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
            ({ answer, detail } = await this.askOnce(entry.target));
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
    /** One reload request, the way the target's agent needs it. */
    async askOnce(target) {
        const { path, confirm } = AGENT_PROFILES[target.agent].reload;
        const reply = await this.options.post(`${target.base}${path}`);
        const said = (reply.status === undefined ? reply.body : `${reply.status} ${reply.body}`).trim();
        if (confirm === 'answer')
            return { answer: classifyReloadAnswer(reply.status, reply.body), detail: said.slice(0, 300) };
        const ok = reply.status !== undefined && reply.status >= 200 && reply.status < 300;
        const metrics = ok ? await this.options.get(`${target.base}/metrics`) : undefined;
        const answer = classifyAlloyReload(reply, metrics, target.configHash);
        if (metrics === undefined || answer === 'reloaded')
            return { answer, detail: said.slice(0, 300) };
        const running = metrics.status === 200 ? `alloy_config_hash ${alloyConfigHashes(metrics.body).join(',') || 'absent'}` : `/metrics: ${metrics.status ?? metrics.body}`;
        return { answer, detail: `${said}; ${running}, the new config's ${target.configHash}`.slice(0, 300) };
    }
    finish(entry, result, detail) {
        this.pending.delete(entry.target.key);
        this.options.onResult(entry.target, result, detail);
    }
}
/** POST (or GET) with a timeout, over the pod network. */
export async function sidecarRequest(method, url, timeoutMs = 3000) {
    try {
        const reply = await fetch(url, { method, signal: AbortSignal.timeout(timeoutMs) });
        return { status: reply.status, body: await reply.text() };
    }
    catch (error) {
        const cause = error.cause?.code;
        return { status: undefined, body: cause ?? String(error) };
    }
}
//# sourceMappingURL=sidecar-reload.js.map