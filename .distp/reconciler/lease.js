import { V1MicroTime } from '@kubernetes/client-node';
import { apiErrorMessage, statusOf } from './kube.js';
import { decideLease } from './lease-decision.js';
// ±20%, so replicas started together do not hit the API server in lockstep.
const jitter = (ms) => Math.round(ms * (0.8 + Math.random() * 0.4));
export function electLeader(options) {
    const { api, namespace, name, identity, leaseDurationMs, renewIntervalMs, retryIntervalMs, logger } = options;
    for (const [key, value] of Object.entries({ leaseDurationMs, renewIntervalMs, retryIntervalMs })) {
        if (!(Number.isFinite(value) && value > 0))
            throw new RangeError(`${key} must be a positive number of milliseconds, got ${value}`);
    }
    if (renewIntervalMs >= leaseDurationMs) {
        throw new RangeError(`renewIntervalMs (${renewIntervalMs}) must be shorter than leaseDurationMs (${leaseDurationMs})`);
    }
    if (identity === '')
        throw new RangeError('identity must not be empty: an empty holder means "free"');
    const now = options.now ?? Date.now;
    const releaseOnStop = options.releaseOnStop ?? true;
    const where = { lease: `${namespace}/${name}`, identity };
    let running = false;
    let leader = false;
    // Whether our last successful write made us the holder: decides whether
    // stop() has something to release, even when the callbacks say otherwise.
    let holding = false;
    let stopping;
    let nextAttempt;
    let renewDeadline;
    let inFlight = Promise.resolve();
    let callbacks = Promise.resolve();
    // Another holder's record and when WE first saw it: expiry is measured on
    // our own clock (see lease-decision.ts). Forgotten once we hold the Lease.
    let observed;
    const runCallback = (which) => {
        // Chained so a stop never overtakes the start it ends; a throw is the
        // caller's bug, not a reason to stop electing.
        callbacks = callbacks.then(async () => {
            try {
                await options[which]();
            }
            catch (err) {
                logger.warn({ ...where, err: apiErrorMessage(err) }, `${which} failed`);
            }
        });
    };
    const startLeading = () => {
        leader = true;
        logger.info(where, 'started leading');
        runCallback('onStartedLeading');
    };
    const stopLeading = (reason) => {
        if (!leader)
            return;
        leader = false;
        clearTimeout(renewDeadline);
        renewDeadline = undefined;
        logger.info({ ...where, reason }, 'stopped leading');
        runCallback('onStoppedLeading');
    };
    // Counted from the start of the last successful attempt, which is before
    // the server stored the renewal and so before any candidate can have seen
    // it: we give up no later than the others may take over.
    const armRenewDeadline = (renewedAt) => {
        clearTimeout(renewDeadline);
        renewDeadline = setTimeout(() => {
            renewDeadline = undefined;
            stopLeading(`lease not renewed for ${leaseDurationMs} ms`);
        }, Math.max(0, renewedAt + leaseDurationMs - now()));
    };
    // Read, then write with the resourceVersion read, for renewals too: the
    // read is how a leader learns at once that someone else holds the Lease.
    const acquireOrRenew = async (at) => {
        let current;
        try {
            current = await api.readNamespacedLease({ name, namespace });
        }
        catch (err) {
            if (statusOf(err) !== 404)
                throw err;
        }
        // `now()` after the answer, `at` before the question: see LeaseDecisionInput.
        const decision = decideLease({ lease: current && recordOf(current), identity, leaseDurationMs, now: now(), writeAt: at, observed });
        observed = decision.observed;
        if (decision.action === 'wait')
            return 'held-by-other';
        if (decision.action === 'take_over' && decision.reason === 'expired') {
            logger.info({ ...where, previousHolder: decision.previousHolder, unchangedForMs: decision.unchangedForMs }, 'lease expired, taking it over');
        }
        const spec = v1Spec(decision.spec);
        try {
            if (current === undefined) {
                await api.createNamespacedLease({ namespace, body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, namespace }, spec } });
            }
            else {
                // The record read, fields we do not write included, with ours on top.
                await api.replaceNamespacedLease({ name, namespace, body: { ...current, spec: { ...current.spec, ...spec } } });
            }
            return 'leading';
        }
        catch (err) {
            if (statusOf(err) === 409)
                return 'conflict';
            throw err;
        }
    };
    const schedule = (ms) => {
        nextAttempt = setTimeout(() => {
            nextAttempt = undefined;
            inFlight = attempt();
        }, jitter(ms));
    };
    const attempt = async () => {
        const at = now();
        let outcome;
        try {
            outcome = await acquireOrRenew(at);
        }
        catch (err) {
            outcome = 'error';
            logger.warn({ ...where, status: statusOf(err), err: apiErrorMessage(err) }, leader ? 'renewing the lease failed' : 'acquiring the lease failed');
        }
        // Only a successful write or a record naming someone else tells us
        // whether we hold the Lease; a conflict or an error does not.
        if (outcome === 'leading') {
            holding = true;
            observed = undefined;
        }
        else if (outcome === 'held-by-other') {
            holding = false;
        }
        if (!running)
            return; // stop() takes over from here
        if (outcome === 'leading') {
            if (at + leaseDurationMs <= now()) {
                // The write landed, but so late that others may already have counted
                // the lease as expired: do not lead on it; the next attempt renews.
                stopLeading('renewal answered after the lease duration');
            }
            else {
                if (!leader)
                    startLeading();
                armRenewDeadline(at);
            }
        }
        else if (outcome === 'held-by-other') {
            stopLeading('the lease has another holder');
        }
        // A leader whose renewal failed retries sooner, to renew before its deadline.
        schedule(leader ? (outcome === 'leading' ? renewIntervalMs : Math.min(renewIntervalMs, retryIntervalMs)) : retryIntervalMs);
    };
    // Empty holder with a 1 s duration, as client-go does, so candidates take
    // the Lease at their next look. Fenced by the resourceVersion just read.
    const release = async () => {
        const current = await api.readNamespacedLease({ name, namespace });
        if (current.spec?.holderIdentity !== identity)
            return;
        await api.replaceNamespacedLease({
            name,
            namespace,
            body: { ...current, spec: { ...current.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: new V1MicroTime(now()) } },
        });
        holding = false;
        logger.info(where, 'released the lease');
    };
    // An API server that accepts connections but never answers must not hang
    // stop(); what is left undone then expires after leaseDurationMs.
    const bounded = async (work, what) => {
        let timer;
        const timedOut = new Promise((resolve) => (timer = setTimeout(() => resolve('timeout'), leaseDurationMs)));
        try {
            const result = await Promise.race([work.then(() => 'done'), timedOut]);
            if (result === 'timeout')
                logger.warn(where, `${what} did not finish within ${leaseDurationMs} ms; going on`);
        }
        catch (err) {
            logger.warn({ ...where, status: statusOf(err), err: apiErrorMessage(err) }, `${what} failed`);
        }
        finally {
            clearTimeout(timer);
        }
    };
    const stop = async () => {
        running = false;
        clearTimeout(nextAttempt);
        nextAttempt = undefined;
        // An attempt in flight may just have made us the holder: let it land
        // before deciding whether there is anything to release. The renew
        // deadline stays armed meanwhile, so a stuck request cannot stretch our
        // leadership past the lease.
        await bounded(inFlight, 'the lease attempt in flight');
        // The leader's work stops before the Lease is handed over, so the next
        // leader never overlaps with it.
        stopLeading('stopped');
        clearTimeout(renewDeadline);
        renewDeadline = undefined;
        await callbacks;
        if (releaseOnStop && holding)
            await bounded(release(), 'releasing the lease');
    };
    return {
        start() {
            if (running || stopping)
                return;
            running = true;
            observed = undefined;
            inFlight = attempt();
        },
        stop() {
            if (!running)
                return stopping ?? callbacks;
            stopping = stop().finally(() => {
                stopping = undefined;
            });
            return stopping;
        },
        isLeader: () => leader,
    };
}
/** What decideLease reads of a Lease. */
const recordOf = (lease) => ({ ...lease.spec, resourceVersion: lease.metadata?.resourceVersion });
/** decideLease's spec with its epoch-ms times as MicroTime, which the API server requires (see the top of this file). */
function v1Spec({ renewTime, acquireTime, ...rest }) {
    return { ...rest, renewTime: new V1MicroTime(renewTime), ...(acquireTime === undefined ? {} : { acquireTime: new V1MicroTime(acquireTime) }) };
}
//# sourceMappingURL=lease.js.map