import { ListWatch, Watch, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import type { FastifyBaseLogger } from 'fastify';
import type { Clock } from '../clock.js';
import { CacheSyncTimeoutError } from '../errors.js';
import type { Metrics } from '../metrics.js';
import { DEFAULT_SETTINGS, type InjectorSettings } from '../injection/index.js';
import { clusterApi, MANAGED_SELECTOR, type ListPage } from './api.js';
import type { ConfigMapLike } from './config-maps.js';
import { INJECTION_NAMESPACE_SELECTOR, injectionModeOf, neverInjected } from './escaped-pods.js';
import { apiErrorMessage, backoffMs } from './kube.js';
import { INJECTED_SELECTOR, RUNNING_SELECTOR, UNINJECTED_SELECTOR, type PodLike, type ServiceLike } from './model.js';
import { NamespaceReconciler, podKey, type ReconcileCaches } from './reconcile-namespace.js';
import { EscapedPodsReporter } from './report-escaped.js';
import type { ReloadTarget } from './sidecar-reload.js';
import { slimConfigMap, slimNamespace, slimPod, slimService, slimUninjectedPod } from './slim.js';
import { WorkQueue } from './work-queue.js';

// The controller, the controller-runtime way: informers (list + watch, each
// object cut down to what is read) feed a keyed work queue of namespaces, and
// the queue's workers run NamespaceReconciler.reconcile (reconcile-namespace.ts)
// against the caches and the narrow API. Everything is derived from the
// cluster, so a restart converges to the same result.

export interface ReconcilerOptions {
  kc: KubeConfig;
  logger: FastifyBaseLogger;
  metrics: Metrics;
  clock: Clock;
  /** Used for pods whose status annotation lacks a value. */
  defaults: { metricsPort: number; configMap: string };
  /** The central sidecar config (promtail.yaml, config.alloy): a ConfigMap in the reconciler's namespace, copied whole. */
  template: { namespace: string; name: string };
  resyncIntervalMs?: number;
  /** How long start() waits for every informer's first list before it gives up (and the caller gives the Lease back). */
  cacheSyncTimeoutMs?: number;
  /** Asks running sidecars to reload after their ConfigMap changed (sidecar-reload.ts); none: they get it at restart. */
  reloader?: { request(targets: readonly ReloadTarget[]): void; forget(key: string): void; stop(): void };
  /** The injector's settings: what an escaped pod is compared with (default: the built-in defaults). */
  settings?: InjectorSettings;
  /** The escaped-pods report (gauge, Events); on by default. */
  escapedPods?: boolean;
}

type Informer<T extends KubernetesObject> = ListWatch<T>;

/** Namespaces reconciled at once: enough to overlap API round trips on a small control plane. */
const WORKERS = 8;
/** Objects per list page: bounds what a list holds in memory before it is cut down. */
const PAGE_SIZE = 500;

/** What an informer keeps of each object; undefined: not kept at all (see slimmingWatch). */
type Slim<T> = (object: T) => T | undefined;

/** A list function for ListWatch that pages through the list and keeps only what `slim` keeps of each object. */
function pagedList<T>(page: ListPage<T>, slim: Slim<T>): () => Promise<{ items: T[]; metadata: { resourceVersion: string } }> {
  return async () => {
    const items: T[] = [];
    let next: string | undefined;
    let resourceVersion = '';
    do {
      const listed = await page({ limit: PAGE_SIZE, ...(next ? { _continue: next } : {}) });
      for (const item of listed.items) {
        const kept = slim(item);
        if (kept !== undefined) items.push(kept);
      }
      resourceVersion = listed.metadata?.resourceVersion ?? resourceVersion;
      next = listed.metadata?._continue || undefined;
    } while (next !== undefined);
    return { items, metadata: { resourceVersion } };
  };
}

type WatchCallback = (phase: string, object: unknown, raw?: unknown) => void;

/**
 * A Watch whose events carry the cut-down object, so ListWatch caches only
 * that. ERROR and BOOKMARK events pass as they are (ListWatch reads their code
 * and resourceVersion). An object `slim` does not keep becomes a DELETED of
 * its name: ListWatch ignores it when it holds nothing of that name, drops
 * what it held otherwise, and moves its resourceVersion on either way.
 * `expire()` makes ListWatch forget its resourceVersion, as a 410 Gone does,
 * so the informer lists again (Reconciler.keepWatching restarts it).
 */
function slimmingWatch<T>(kc: KubeConfig, slim: Slim<T>): Watch & { expire(): void } {
  const watch = new Watch(kc);
  let latest: WatchCallback | undefined;
  return {
    watch: (path: string, query: Record<string, string | number | boolean | undefined>, callback: WatchCallback, done: (error: unknown) => void) => {
      latest = callback;
      return watch.watch(
        path,
        query,
        (phase, object, raw) => {
          if (phase !== 'ADDED' && phase !== 'MODIFIED' && phase !== 'DELETED') return callback(phase, object, raw);
          const kept = slim(object as T);
          if (kept !== undefined) return callback(phase, kept, raw);
          const { name, namespace, resourceVersion } = (object as { metadata?: { name?: string; namespace?: string; resourceVersion?: string } }).metadata ?? {};
          return callback('DELETED', { metadata: { name, namespace, resourceVersion } }, raw);
        },
        done,
      );
    },
    expire: () => latest?.('ERROR', { code: 410 }),
  } as Watch & { expire(): void };
}

export class Reconciler {
  /** The informers readiness waits for (start() resolves once each has listed). */
  private readonly informers: Informer<KubernetesObject>[] = [];
  /** The escaped-pods report's: not waited for, so a report that cannot list (RBAC) never holds the reconciler back. */
  private readonly reportInformers: Informer<KubernetesObject>[] = [];
  private pods!: Informer<KubernetesObject>;
  private services!: Informer<KubernetesObject>;
  private managedConfigMaps!: Informer<KubernetesObject>;
  private templates!: Informer<KubernetesObject>;
  private injectionNamespaces: Informer<KubernetesObject> | undefined;
  private uninjectedPods: Informer<KubernetesObject> | undefined;
  private queue: WorkQueue<string> | undefined;
  private readonly namespaces: NamespaceReconciler;
  private readonly escaped: EscapedPodsReporter | undefined;
  private readonly lists;
  private readonly timers = new Set<unknown>();
  /** Why an informer is made to list again, for its log line (keepWatching); none: its watch expired. */
  private readonly relistReasons = new Map<Informer<KubernetesObject>, string>();
  /**
   * Namespaces whose running uninjected pods the pod informer left out since
   * its last list (they did not ask for injection then): when one of them is
   * labelled, those pods are listed again. Names only, one per namespace.
   */
  private readonly leftOut = new Set<string>();
  private relistPending = false;
  private expireUninjected: (() => void) | undefined;
  private running = false;
  private synced = false;

  constructor(private readonly options: ReconcilerOptions) {
    const { kc, metrics, logger, defaults, template, reloader, clock } = options;
    const api = clusterApi(kc, (verb) => metrics.reconcilerRequests.inc({ verb }));
    this.lists = api.lists;
    if (options.escapedPods !== false) {
      this.escaped = new EscapedPodsReporter({
        caches: {
          injectionMode: (namespace) => this.injectionModeOf(namespace),
          uninjectedPods: (namespace) => (this.uninjectedPods?.list(namespace) ?? []) as readonly PodLike[],
          injectedPods: (namespace) => this.pods.list(namespace) as readonly PodLike[],
        },
        api: api.events,
        settings: options.settings ?? DEFAULT_SETTINGS,
        clock,
        gauge: metrics.escapedPods,
        requeueAfter: (namespace, ms) => this.queue?.addAfter(namespace, ms),
        log: logger,
      });
    }
    const caches: ReconcileCaches = {
      pods: (namespace) => this.pods.list(namespace) as readonly PodLike[],
      services: (namespace) => this.services.list(namespace) as readonly ServiceLike[],
      managedConfigMap: (namespace, name) => this.managedConfigMaps.get(name, namespace) as ConfigMapLike | undefined,
      template: () => {
        const data = (this.templates.list()[0] as ConfigMapLike | undefined)?.data;
        return data === undefined || Object.keys(data).length === 0 ? undefined : data;
      },
    };
    this.namespaces = new NamespaceReconciler({
      api: api.writes,
      caches,
      defaults,
      template,
      log: logger,
      onConflict: (kind, reason) => metrics.reconcileConflicts.inc({ kind, reason }),
      ...(reloader ? { requestReloads: (targets) => reloader.request(targets) } : {}),
      now: () => clock.now(),
    });
  }

  isSynced(): boolean {
    return this.synced;
  }

  /** Starts the informers and resolves once their caches are complete; rejects with CacheSyncTimeoutError if that takes longer than cacheSyncTimeoutMs. */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.leftOut.clear();
    this.relistPending = false;
    const { kc, template, metrics, logger, clock } = this.options;
    const informer = <T>(path: string, list: ListPage<T>, slim: Slim<T>, labelSelector?: string, fieldSelector?: string, gate = true) => {
      const watch = slimmingWatch(kc, slim);
      const made = new ListWatch<KubernetesObject>(path, watch, pagedList(list, slim) as never, false, labelSelector, fieldSelector);
      made.on('connect', () => metrics.reconcilerRequests.inc({ verb: 'watch' }));
      (gate ? this.informers : this.reportInformers).push(made);
      this.keepWatching(made, path);
      return Object.assign(made, { expire: watch.expire });
    };
    if (this.escaped !== undefined) {
      // The namespaces first: the pod informer below keeps the pods of those that ask for injection.
      this.injectionNamespaces = informer('/api/v1/namespaces', this.lists.injectionNamespaces, slimNamespace as never, INJECTION_NAMESPACE_SELECTOR, undefined, false);
      const uninjected = informer('/api/v1/pods', this.lists.uninjectedRunningPods, ((pod: PodLike) => this.keepUninjected(pod)) as never, UNINJECTED_SELECTOR, RUNNING_SELECTOR, false);
      this.uninjectedPods = uninjected;
      this.expireUninjected = uninjected.expire;
      await this.injectionNamespaces.start();
    }
    this.pods = informer('/api/v1/pods', this.lists.injectedPods, slimPod as never, INJECTED_SELECTOR);
    this.services = informer('/api/v1/services', this.lists.services, slimService as never);
    this.managedConfigMaps = informer('/api/v1/configmaps', this.lists.managedConfigMaps, slimConfigMap as never, MANAGED_SELECTOR);
    const byName = `metadata.name=${template.name}`;
    this.templates = informer(`/api/v1/namespaces/${template.namespace}/configmaps`, this.lists.templates(template.namespace, template.name), slimConfigMap as never, undefined, byName);

    const queue = new WorkQueue<string>({
      workers: WORKERS,
      clock,
      backoffMs,
      process: async (namespace) => {
        await this.namespaces.reconcile(namespace);
        await this.escaped?.reconcile(namespace);
      },
      onSuccess: () => metrics.reconciles.inc({ result: 'ok' }),
      onError: (namespace, error, retryInMs) => {
        metrics.reconciles.inc({ result: 'error' });
        logger.warn({ namespace, err: apiErrorMessage(error), retryInMs: Math.round(retryInMs) }, 'reconcile failed; retrying');
      },
    });
    this.queue = queue;
    // Until the caches are complete, start() marks everything once they are.
    const markNamespace = (object: KubernetesObject) => this.synced && object.metadata?.namespace && queue.add(object.metadata.namespace);
    for (const source of [this.pods, this.services, this.managedConfigMaps]) source.on('change', markNamespace);
    this.uninjectedPods?.on('change', markNamespace);
    this.injectionNamespaces?.on('change', (namespace) => {
      const name = namespace.metadata?.name;
      if (name === undefined) return;
      // Labelled now, with running pods left out before: list them (at most once a second).
      if (this.injectionModeOf(name) !== undefined && this.leftOut.has(name)) this.relistUninjected(`namespace ${name} now asks for injection`);
      if (this.synced) queue.add(name);
    });
    this.pods.on('delete', (pod) => this.options.reloader?.forget(podKey(pod.metadata ?? {})));
    this.services.on('delete', (service) => this.namespaces.forgetService(service.metadata?.namespace ?? '', service.metadata?.name ?? ''));
    this.templates.on('change', () => {
      this.namespaces.templateChanged();
      this.markAll();
    });

    await Promise.all([...this.informers, ...(this.uninjectedPods ? [this.uninjectedPods] : [])].map((each) => each.start()));
    // start() also returns when the first list failed (the informer then
    // restarts with backoff): synced means every informer has listed.
    const deadline = clock.now() + (this.options.cacheSyncTimeoutMs ?? 120_000);
    while (this.running && this.informers.some((each) => each.latestResourceVersion() === '')) {
      if (clock.now() >= deadline) {
        const missing = this.informers.filter((each) => each.latestResourceVersion() === '').length;
        throw new CacheSyncTimeoutError(missing, this.informers.length, this.options.cacheSyncTimeoutMs ?? 120_000);
      }
      await new Promise((resolve) => clock.setTimeout(() => resolve(undefined), 200));
    }
    if (!this.running) return;
    this.synced = true;
    logger.info({ pods: this.pods.list().length, services: this.services.list().length }, 'reconciler caches synced');
    this.markAll();
    this.every(this.options.resyncIntervalMs ?? 5 * 60_000, () => this.markAll());
  }

  async stop(): Promise<void> {
    this.running = false;
    this.synced = false;
    this.options.reloader?.stop();
    for (const timer of this.timers) this.options.clock.clearTimeout(timer);
    this.timers.clear();
    await Promise.all([...this.informers.splice(0), ...this.reportInformers.splice(0)].map((each) => each.stop()));
    await this.queue?.shutDown();
    // Only the leader reports escaped pods: another replica's gauge takes over.
    this.options.metrics.escapedPods.reset();
    this.escaped?.forgetAll();
  }

  /** The namespace's label, when it asks for every pod and the webhook is ever called there. */
  private injectionModeOf(namespace: string) {
    if (neverInjected(namespace, this.options.template.namespace)) return undefined;
    return injectionModeOf(this.injectionNamespaces?.get(namespace)?.metadata?.labels);
  }

  /** The uninjected-pod informer's filter: the pods of namespaces that ask for injection, cut down; the others' namespaces noted. */
  private keepUninjected(pod: PodLike): PodLike | undefined {
    const namespace = pod.metadata?.namespace;
    if (namespace === undefined) return undefined;
    if (this.injectionModeOf(namespace) !== undefined) return slimUninjectedPod(pod);
    if (!neverInjected(namespace, this.options.template.namespace)) this.leftOut.add(namespace);
    return undefined;
  }

  private relistUninjected(reason: string): void {
    if (this.relistPending || this.expireUninjected === undefined || this.uninjectedPods === undefined) return;
    this.relistPending = true;
    const informer = this.uninjectedPods;
    const expire = this.expireUninjected;
    // A second labelled namespace within the second rides on the same list.
    this.later(1000, () => {
      this.relistPending = false;
      this.leftOut.clear();
      this.relistReasons.set(informer, reason);
      expire();
    });
  }

  /** Resolves once no namespace is waiting or being reconciled (tests, benchmarks). */
  idle(): Promise<void> {
    return this.queue?.idle() ?? Promise.resolve();
  }

  private every(ms: number, run: () => void): void {
    const tick = () => {
      this.timers.delete(handle);
      if (!this.running) return;
      run();
      this.every(ms, run);
    };
    const handle = this.options.clock.setTimeout(tick, ms);
    this.timers.add(handle);
  }

  private later(ms: number, run: () => void | Promise<void>): void {
    const handle = this.options.clock.setTimeout(() => {
      this.timers.delete(handle);
      if (this.running) void run();
    }, ms);
    this.timers.add(handle);
  }

  /**
   * client-node's ListWatch stops on any error other than 410, and after a
   * 410 ERROR event it only forgets its resourceVersion, waiting for a stream
   * end that the API server may not send. Both are handled here: errors
   * restart it with backoff; a forgotten resourceVersion (checked every
   * second, no API call) restarts it at once, which relists.
   */
  private keepWatching(source: Informer<KubernetesObject>, path: string): void {
    let attempt = 0;
    let failed = false;
    let restarting = false;
    let expectedAbort: (() => void) | undefined;
    const restart = async () => {
      restarting = true;
      failed = false;
      try {
        await source.start();
      } finally {
        restarting = false;
      }
      // start() reports failures through the error event, before it returns.
      if (!failed) attempt = 0;
    };
    source.on('error', (error: unknown) => {
      if (expectedAbort && (error as { name?: string }).name === 'AbortError') return expectedAbort();
      failed = true;
      if (!this.running) return;
      const delay = backoffMs(attempt++);
      this.options.logger.warn({ path, err: apiErrorMessage(error), retryInMs: Math.round(delay) }, 'watch failed; restarting');
      this.later(delay, restart);
    });
    this.every(1000, () => {
      if (!this.synced || restarting || source.latestResourceVersion() !== '') return;
      restarting = true;
      const reason = this.relistReasons.get(source);
      this.relistReasons.delete(source);
      this.options.logger.info({ path, ...(reason ? { reason } : {}) }, reason ? 'relisting' : 'watch expired (410 Gone); relisting');
      const aborted = new Promise<void>((resolve) => {
        expectedAbort = resolve;
        this.options.clock.setTimeout(resolve, 1000);
      });
      // Wait for the old request's abort to come back before starting anew,
      // or it would abort the new one.
      void source
        .stop()
        .then(() => aborted)
        .then(() => {
          expectedAbort = undefined;
          return this.running ? restart() : undefined;
        })
        .finally(() => (restarting = false));
    });
  }

  private markAll(): void {
    const queue = this.queue;
    if (queue === undefined) return;
    const namespaces = new Set<string>();
    for (const pod of this.pods.list()) if (pod.metadata?.namespace) namespaces.add(pod.metadata.namespace);
    for (const service of this.services.list()) if (service.metadata?.namespace) namespaces.add(service.metadata.namespace);
    for (const namespace of this.injectionNamespaces?.list() ?? []) if (namespace.metadata?.name) namespaces.add(namespace.metadata.name);
    for (const namespace of namespaces) queue.add(namespace);
  }
}
