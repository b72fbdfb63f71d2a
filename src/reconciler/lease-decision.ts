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

/** The parts of a coordination.k8s.io/v1 Lease the decision reads (its spec plus metadata.resourceVersion). */
export interface LeaseRecord {
  /** "" or absent: nobody holds the Lease. */
  holderIdentity?: string;
  /** The holder's promise; absent or <= 0 counts as "ours". */
  leaseDurationSeconds?: number;
  /**
   * As read: a MicroTime string at runtime (client-node does not deserialise
   * it, whatever its types say). Only compared for change, never parsed.
   */
  renewTime?: string | Date;
  acquireTime?: string | Date;
  leaseTransitions?: number;
  /** Changes on every write that changes something, so it tells a renewal apart even from an identical renewTime. */
  resourceVersion?: string;
}

/**
 * Another holder's record as we last saw it, and when we first saw it in that
 * state (our clock). Kept by the caller between attempts and handed back in.
 */
export interface Observed {
  /** Opaque: holder, renewTime and resourceVersion, so any change to one of them is a change. */
  record: string;
  since: number;
}

/** The spec fields to write; times are epoch ms, which the I/O layer turns into MicroTime. */
export interface LeaseSpecWrite {
  holderIdentity: string;
  leaseDurationSeconds: number;
  renewTime: number;
  /** Only when we become the holder (create, take over); a renewal keeps the record's. */
  acquireTime?: number;
  /** Only when we become the holder; a renewal keeps the record's. */
  leaseTransitions?: number;
}

export interface LeaseDecisionInput {
  /** The Lease as read; undefined when it does not exist (404). */
  lease: LeaseRecord | undefined;
  /** This replica's holderIdentity; never "" (that means "free"). */
  identity: string;
  /** Our lease duration: written (rounded up to whole seconds), and the validity of a record that states none. */
  leaseDurationMs: number;
  /**
   * When the read answered (our clock): the moment a record is seen. The
   * answer's arrival rather than the request's start can only make us wait
   * longer, never take over early.
   */
  now: number;
  /**
   * When this attempt started (our clock), written as renewTime (and
   * acquireTime). The leader's own deadline counts from this same moment,
   * which is before the server stores the write and so before any candidate
   * can see it: the leader gives up no later than others may take over.
   */
  writeAt: number;
  /** What the previous attempts saw of another holder's record, if anything. */
  observed: Observed | undefined;
}

export type LeaseDecision =
  /** No Lease: create it, held from writeAt, with no transitions yet. */
  | { action: 'create'; spec: LeaseSpecWrite; observed: Observed | undefined }
  /** We hold it: write a new renewTime. */
  | { action: 'renew'; spec: LeaseSpecWrite; observed: Observed | undefined }
  /** Free (empty holder): take it at once. */
  | { action: 'take_over'; reason: 'free'; spec: LeaseSpecWrite; observed: Observed | undefined }
  /** Another holder's record has not changed for its whole duration on our clock: take it. */
  | { action: 'take_over'; reason: 'expired'; previousHolder: string; unchangedForMs: number; spec: LeaseSpecWrite; observed: Observed }
  /** Another holder, whose record is still valid: leave it alone, look again later. */
  | { action: 'wait'; holder: string; unchangedForMs: number; validMs: number; observed: Observed };

/**
 * What to do with the Lease just read. A record unchanged for exactly its
 * duration is expired (`>=`), as in client-go. `observed` in the answer is what
 * to hand in next time; it is only replaced when another holder's record is
 * seen, so the caller forgets it once a write of its own succeeds.
 */
export function decideLease(input: LeaseDecisionInput): LeaseDecision {
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
  const takeOver = (): LeaseSpecWrite => ({
    holderIdentity: identity,
    leaseDurationSeconds,
    renewTime: writeAt,
    acquireTime: writeAt,
    leaseTransitions: (lease.leaseTransitions ?? 0) + 1,
  });

  if (holder === identity) {
    return { action: 'renew', spec: { holderIdentity: identity, leaseDurationSeconds, renewTime: writeAt }, observed: input.observed };
  }
  if (holder === '') return { action: 'take_over', reason: 'free', spec: takeOver(), observed: input.observed };

  // Any write by the holder (or anyone) changes the resourceVersion, so an
  // unchanged record means nobody has written it since we first saw it.
  const record = JSON.stringify([holder, String(lease.renewTime ?? ''), lease.resourceVersion ?? '']);
  const observed = input.observed?.record === record ? input.observed : { record, since: now };
  const unchangedForMs = now - observed.since;
  // The holder's own promise when it wrote one, so a replica configured with
  // a shorter duration cannot cut a longer lease short.
  const stated = lease.leaseDurationSeconds;
  const validMs = stated !== undefined && stated > 0 ? stated * 1000 : leaseDurationMs;
  if (unchangedForMs < validMs) return { action: 'wait', holder, unchangedForMs, validMs, observed };
  return { action: 'take_over', reason: 'expired', previousHolder: holder, unchangedForMs, spec: takeOver(), observed };
}
