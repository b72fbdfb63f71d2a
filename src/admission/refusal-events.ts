import type { Clock } from '../clock.js';
import type { EventsApi } from '../cluster/events-api.js';
import { controllerRef, topOwner } from '../cluster/owners.js';
import type { RefuseReason } from '../injection/index.js';

// A refused pod is never stored, so nobody sees it but the controller that
// tried (a ReplicaSet's FailedCreate, which few people read). This puts a
// Warning Event on the workload a person looks at: the Deployment (via its
// ReplicaSet), the CronJob (via its Job), the StatefulSet, the DaemonSet, or
// the pod itself when nothing owns it.
//
// The admission answer never waits for it: report() only checks the rate
// limit and schedules the work on a later turn of the event loop, after the
// answer is written. Finding the Deployment behind a ReplicaSet takes an API
// read; it happens then. A controller retries a refused pod again and again,
// so one Event per owner and reason per interval (10 minutes), with a bounded
// memory of what was sent and a bounded number of Events on their way.

export interface RefusedPod {
  namespace: string;
  pod: { name?: string | undefined; generateName?: string | undefined; uid?: string | undefined; ownerReferences?: unknown };
  reason: RefuseReason;
  /** The refusal's message, as the API server shows it. */
  message: string;
}

export type RefusalEventResult = 'sent' | 'rate_limited' | 'dropped' | 'failed';

export interface RefusalEventsOptions {
  api: EventsApi;
  clock: Clock;
  /** Told of each refusal's fate: sre_quero_refusal_events_total{result}. */
  onResult(result: RefusalEventResult): void;
  log: { warn(fields: object, message: string): void };
  /** One Event per owner and reason within this time (default 10 minutes). */
  intervalMs?: number;
  /** Owner-and-reason keys remembered (the oldest forgotten first; default 4,096). */
  maxKeys?: number;
  /** Events on their way at once; more are dropped (default 32). */
  maxInFlight?: number;
}

export const REFUSAL_EVENT_REASON = 'LoggingSidecarRefused';

export class RefusalEvents {
  /** Owner-and-reason key -> when its Event was scheduled, oldest first. */
  private readonly sent = new Map<string, number>();
  private inFlight = 0;
  private readonly idleWaiters: (() => void)[] = [];
  private readonly intervalMs: number;
  private readonly maxKeys: number;
  private readonly maxInFlight: number;

  constructor(private readonly options: RefusalEventsOptions) {
    this.intervalMs = options.intervalMs ?? 10 * 60_000;
    this.maxKeys = options.maxKeys ?? 4096;
    this.maxInFlight = options.maxInFlight ?? 32;
  }

  /** Never throws, never waits: at most a map lookup, then the work is scheduled. */
  report(refused: RefusedPod): void {
    const { namespace, pod, reason } = refused;
    // The pod's own controller (a ReplicaSet, a Job) stands for its top owner here: no read needed to rate-limit.
    const near = controllerRef(pod.ownerReferences);
    const podName = pod.name || pod.generateName;
    if (near === undefined && !podName) return this.options.onResult('dropped');
    const key = `${namespace}\u0000${near ? `${near.kind}/${near.name}` : `Pod/${podName}`}\u0000${reason}`;
    const now = this.options.clock.now();
    const last = this.sent.get(key);
    if (last !== undefined && now - last < this.intervalMs) return this.options.onResult('rate_limited');
    if (this.inFlight >= this.maxInFlight) return this.options.onResult('dropped');
    this.sent.delete(key);
    this.sent.set(key, now);
    while (this.sent.size > this.maxKeys) this.sent.delete(this.sent.keys().next().value as string);
    this.inFlight++;
    this.options.clock.setTimeout(() => void this.send({ ...refused, pod: { ...pod, name: podName } }), 0);
  }

  /** Resolves once no Event is on its way (tests, shutdown). */
  idle(): Promise<void> {
    return this.inFlight === 0 ? Promise.resolve() : new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private async send({ namespace, pod, reason, message }: RefusedPod): Promise<void> {
    try {
      const owner = await topOwner(namespace, pod, this.options.api);
      if (owner === undefined) return this.options.onResult('dropped');
      const what = owner.kind === 'Pod' ? 'this pod' : `a pod of this ${owner.kind}`;
      const explain = owner.kind === 'Pod' ? `sre-quero explain -f <its manifest>` : `sre-quero explain ${owner.kind.toLowerCase()} ${owner.name} -n ${namespace}`;
      await this.options.api.recordEvent({
        namespace,
        involvedObject: owner,
        type: 'Warning',
        reason: REFUSAL_EVENT_REASON,
        message: `sre-quero refused ${what} (${reason}): ${message} (${explain} says more)`,
      });
      this.options.onResult('sent');
    } catch (error) {
      this.options.onResult('failed');
      this.options.log.warn({ namespace, pod: pod.name, reason, err: error instanceof Error ? error.message : String(error) }, 'could not record the refusal event');
    } finally {
      this.inFlight--;
      if (this.inFlight === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
    }
  }
}
