import type { Clock } from '../clock.js';
import type { EventsApi } from '../cluster/events-api.js';
import { restartHint, topOwner, type ObjectRef, type OwnedKind, type OwnerReads } from '../cluster/owners.js';
import type { InjectorSettings } from '../injection/index.js';
import { escapedPods, type EscapedPod, type EscapeReason, type InjectionMode } from './escaped-pods.js';
import type { PodLike } from './model.js';

// One namespace's escaped pods (escaped-pods.ts) reported: the gauge
// sre_quero_escaped_pods{namespace,reason} set to what the caches hold now,
// and one Event on each pod, once (not at every resync: what was told is
// remembered per pod while it stays escaped; a new leader tells again once).
// Events go out at a bounded rate: after a settings change every injected pod
// may be outdated at once, and the API server should not get thousands of
// Events in a second; the rest follow as the namespace is queued again.

export interface EscapedPodsCaches {
  /** The namespace's injection label, when it asks for every pod (and the webhook is ever called there). */
  injectionMode(namespace: string): InjectionMode | undefined;
  /** Running pods without the injected label; held only for namespaces that ask for every pod. */
  uninjectedPods(namespace: string): readonly PodLike[];
  injectedPods(namespace: string): readonly PodLike[];
}

export interface EscapedPodsReporterOptions {
  caches: EscapedPodsCaches;
  api: EventsApi;
  settings: InjectorSettings;
  clock: Clock;
  gauge: { set(labels: { namespace: string; reason: EscapeReason }, value: number): void; remove(labels: { namespace: string; reason: EscapeReason }): void };
  /** Asks for the namespace to be reconciled again (Events held back by the rate). */
  requeueAfter(namespace: string, ms: number): void;
  log: { info(fields: object, message: string): void; warn(fields: object, message: string): void };
  /** Events per second on average (default 5) and at once (default 50). */
  eventsPerSecond?: number;
  eventBurst?: number;
}

export const ESCAPED_EVENT_REASONS: Readonly<Record<EscapeReason, string>> = {
  missing_sidecar: 'LoggingSidecarMissing',
  outdated_agent: 'LoggingSidecarOutdated',
  outdated_image: 'LoggingSidecarOutdated',
};

/** ReplicaSets and Jobs whose owner was read; their ownerReferences do not change. */
const OWNER_CACHE_SIZE = 2048;

export class EscapedPodsReporter {
  /** Per namespace: pod key -> the reason its Event told. */
  private readonly told = new Map<string, Map<string, EscapeReason>>();
  /** Per namespace: the reasons the gauge has a series for. */
  private readonly series = new Map<string, Set<EscapeReason>>();
  private readonly owners = new Map<string, ObjectRef | undefined>();
  private readonly reads: OwnerReads;
  private tokens: number;
  private refilledAt: number;

  constructor(private readonly options: EscapedPodsReporterOptions) {
    this.tokens = this.burst;
    this.refilledAt = options.clock.now();
    this.reads = { controllerOf: (kind, namespace, name) => this.controllerOf(kind, namespace, name) };
  }

  async reconcile(namespace: string): Promise<void> {
    const { caches, settings } = this.options;
    const mode = caches.injectionMode(namespace);
    const found = new Map<string, EscapedPod>();
    for (const pod of [...escapedPods(caches.uninjectedPods(namespace), mode, settings), ...escapedPods(caches.injectedPods(namespace), mode, settings)]) {
      found.set(pod.uid ?? pod.name, pod);
    }
    this.setGauge(namespace, found);
    await this.tell(namespace, found);
  }

  /** Leadership ends: the next leader reports (and the gauge of this replica is cleared by the caller). */
  forgetAll(): void {
    this.series.clear();
  }

  private setGauge(namespace: string, found: Map<string, EscapedPod>): void {
    const counts = new Map<EscapeReason, number>();
    for (const pod of found.values()) counts.set(pod.reason, (counts.get(pod.reason) ?? 0) + 1);
    const { gauge } = this.options;
    for (const reason of this.series.get(namespace) ?? []) if (!counts.has(reason)) gauge.remove({ namespace, reason });
    for (const [reason, count] of counts) gauge.set({ namespace, reason }, count);
    if (counts.size === 0) this.series.delete(namespace);
    else this.series.set(namespace, new Set(counts.keys()));
  }

  private async tell(namespace: string, found: Map<string, EscapedPod>): Promise<void> {
    const before = this.told.get(namespace);
    const after = new Map<string, EscapeReason>();
    let heldBack = false;
    for (const [key, pod] of found) {
      if (before?.get(key) === pod.reason) {
        after.set(key, pod.reason);
        continue;
      }
      if (!this.takeToken()) {
        heldBack = true;
        continue;
      }
      // Told even when the Event fails: it is said once in the log instead, not retried at every resync.
      after.set(key, pod.reason);
      await this.recordEvent(namespace, pod);
    }
    if (after.size === 0) this.told.delete(namespace);
    else this.told.set(namespace, after);
    if (heldBack) this.options.requeueAfter(namespace, (this.burst / this.rate) * 1000);
  }

  private async recordEvent(namespace: string, pod: EscapedPod): Promise<void> {
    const owner = await topOwner(namespace, { name: pod.name, uid: pod.uid, ownerReferences: pod.owner ? [{ ...pod.owner, controller: true }] : undefined }, this.reads);
    const fix = owner === undefined ? 'create it again' : restartHint(owner, namespace);
    try {
      await this.options.api.recordEvent({
        namespace,
        involvedObject: { apiVersion: 'v1', kind: 'Pod', name: pod.name, uid: pod.uid },
        type: pod.reason === 'missing_sidecar' ? 'Warning' : 'Normal',
        reason: ESCAPED_EVENT_REASONS[pod.reason],
        message: `This pod ${pod.detail}. A new pod gets the sidecar the settings give now: ${fix}. (sre-quero explain cluster lists every such pod.)`,
      });
      this.options.log.info({ pod: `${namespace}/${pod.name}`, reason: pod.reason }, 'escaped pod reported');
    } catch (error) {
      this.options.log.warn({ pod: `${namespace}/${pod.name}`, reason: pod.reason, err: error instanceof Error ? error.message : String(error) }, 'could not record the escaped pod event');
    }
  }

  /** The owner reads, remembering each answer (a failure is not remembered: it is tried again). */
  private async controllerOf(kind: OwnedKind, namespace: string, name: string): Promise<ObjectRef | undefined> {
    const key = `${namespace}/${kind}/${name}`;
    if (this.owners.has(key)) return this.owners.get(key);
    const owner = await this.options.api.controllerOf(kind, namespace, name);
    this.owners.set(key, owner);
    if (this.owners.size > OWNER_CACHE_SIZE) this.owners.delete(this.owners.keys().next().value as string);
    return owner;
  }

  private get rate(): number {
    return this.options.eventsPerSecond ?? 5;
  }

  private get burst(): number {
    return this.options.eventBurst ?? 50;
  }

  private takeToken(): boolean {
    const now = this.options.clock.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.refilledAt) / 1000) * this.rate);
    this.refilledAt = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
