// What a candidate does with the Lease it just read: create it, renew it,
// take it over, or wait. Pure: no I/O, no timers, no clock of its own; times
// are epoch milliseconds handed in by the caller (lease.ts), which reads the
// Lease, calls decideLease, and writes what it says.
//
// The semantics are client-go's leaderelection:
// - Expiry is judged on OUR clock, from the moment we first saw the holder's
//   record unchanged, never by comparing the holder's renewTime with our
//   clock: with skewed clocks that comparison would steal a live Lease (our
//   clock ahead) or honour a dead one for too long (our clock behind).
// - An empty holder means released (or never held): free to take at once.
// - Our own identity means we hold it: renew, keeping acquireTime and
//   leaseTransitions.
// - How long a silent record stays valid is the holder's own promise
//   (leaseDurationSeconds) when it wrote one, ours otherwise.
/**
 * What to do with the Lease just read. A record unchanged for exactly its
 * duration is expired (`>=`), as in client-go. `observed` in the answer is what
 * to hand in next time; it is only replaced when another holder's record is
 * seen, so the caller forgets it once a write of its own succeeds.
 */
export function decideLease(input) {
    const { lease, identity, leaseDurationMs, now, writeAt } = input;
    const leaseDurationSeconds = Math.ceil(leaseDurationMs / 1000);
    if (lease === undefined) {
        return {
            action: 'create',
            spec: { holderIdentity: identity, leaseDurationSeconds, acquireTime: writeAt, renewTime: writeAt, leaseTransitions: 0 },
            observed: input.observed,
        };
    }
    const holder = lease.holderIdentity ?? '';
    // Becoming the holder starts a new tenure: a new acquireTime, one more transition.
    const takeOver = () => ({
        holderIdentity: identity,
        leaseDurationSeconds,
        renewTime: writeAt,
        acquireTime: writeAt,
        leaseTransitions: (lease.leaseTransitions ?? 0) + 1,
    });
    if (holder === identity) {
        return { action: 'renew', spec: { holderIdentity: identity, leaseDurationSeconds, renewTime: writeAt }, observed: input.observed };
    }
    if (holder === '')
        return { action: 'take_over', reason: 'free', spec: takeOver(), observed: input.observed };
    // Any write by the holder (or anyone) changes the resourceVersion, so an
    // unchanged record means nobody has written it since we first saw it.
    const record = JSON.stringify([holder, String(lease.renewTime ?? ''), lease.resourceVersion ?? '']);
    const observed = input.observed?.record === record ? input.observed : { record, since: now };
    const unchangedForMs = now - observed.since;
    // The holder's own promise when it wrote one, so a replica configured with
    // a shorter duration cannot cut a longer lease short.
    const stated = lease.leaseDurationSeconds;
    const validMs = stated !== undefined && stated > 0 ? stated * 1000 : leaseDurationMs;
    if (unchangedForMs < validMs)
        return { action: 'wait', holder, unchangedForMs, validMs, observed };
    return { action: 'take_over', reason: 'expired', previousHolder: holder, unchangedForMs, spec: takeOver(), observed };
}
//# sourceMappingURL=lease-decision.js.map