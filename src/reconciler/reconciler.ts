import { CoreV1Api, ListWatch, PatchStrategy, setHeaderOptions, Watch, type KubeConfig, type KubernetesObject, type V1ConfigMap, type V1Pod, type V1Service } from '@kubernetes/client-node';
import type { FastifyBaseLogger } from 'fastify';
import type { Metrics } from '../metrics.js';
import { planConfigMap, type ConfigMapLike } from './config-maps.js';
import { apiErrorMessage, backoffMs, statusOf } from './kube.js';
import { FIELD_MANAGER, INJECTED_SELECTOR, MANAGED_BY_LABEL, MANAGED_BY_VALUE, readInjectedPod, type InjectedPod, type ServiceLike } from './model.js';
import { planServicePort } from './service-ports.js';
import type { ReloadTarget } from './sidecar-reload.js';

// Keeps Service ports and the per-namespace promtail ConfigMap in line with the
// injected pods. Everything is derived from the cluster (informer caches), so
// a restart converges to the same result. Work is per namespace: any change
// in a namespace marks it dirty, and one loop reconciles dirty namespaces.

export interface ReconcilerOptions {
  kc: KubeConfig;
  logger: FastifyBaseLogger;
  metrics: Metrics;
  /** Used for pods whose status annotation lacks a value. */
  defaults: { metricsPort: number; configMap: string };
  /** The central promtail config: a ConfigMap in the reconciler's namespace. */
  template: { namespace: string; name: string; key: string };
  resyncIntervalMs?: number;
  /** Asks running sidecars to reload after their ConfigMap changed (sidecar-reload.ts); none: they get it at restart. */
  reloader?: { request(targets: readonly ReloadTarget[]): void; forget(key: string): void; stop(): void };
}

type Informer<T extends KubernetesObject> = ListWatch<T>;
/** The object an Event is about. */
type Subject = { name: string; namespace: string; uid?: string | undefined };

const podKey = (metadata: { namespace?: string | undefined; name?: string | undefined; uid?: string | undefined }) => `${metadata.namespace}/${metadata.name}/${metadata.uid ?? ''}`;

const APPLY = setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply);
/** Namespaces reconciled at once: enough to overlap API round trips on a small control plane. */
const WORKERS = 8;

export class Reconciler {
  private readonly core: CoreV1Api;
  private readonly informers: Informer<KubernetesObject>[] = [];
  private pods!: Informer<V1Pod>;
  private services!: Informer<V1Service>;
  private managedConfigMaps!: Informer<V1ConfigMap>;
  private templates!: Informer<V1ConfigMap>;
  private readonly dirty = new Set<string>();
  private readonly attempts = new Map<string, number>();
  private readonly reported = new Map<string, string>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly inFlight = new Set<string>();
  /** What we last sent per Service, and for which version of it: a watch event is on its way. */
  private readonly lastWrite = new Map<string, { desired: string; resourceVersion: string | undefined }>();
  private workers = 0;
  private running = false;
  private synced = false;
  private idleWaiters: (() => void)[] = [];
  private templateMissingReported = false;

  constructor(private readonly options: ReconcilerOptions) {
    this.core = options.kc.makeApiClient(CoreV1Api);
  }

  isSynced(): boolean {
    return this.synced;
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    const { kc, template } = this.options;
    const count = (verb: string) => this.options.metrics.reconcilerRequests.inc({ verb });
    const informer = <T extends KubernetesObject>(path: string, list: () => Promise<{ items: T[]; metadata?: { resourceVersion?: string } }>, labelSelector?: string, fieldSelector?: string) => {
      const watch = new Watch(kc);
      const made = new ListWatch<T>(path, watch, async () => {
        count('list');
        return (await list()) as never;
      }, false, labelSelector, fieldSelector);
      made.on('connect', () => count('watch'));
      this.informers.push(made as unknown as Informer<KubernetesObject>);
      this.keepWatching(made, path);
      return made;
    };
    this.pods = informer<V1Pod>('/api/v1/pods', () => this.core.listPodForAllNamespaces({ labelSelector: INJECTED_SELECTOR }), INJECTED_SELECTOR);
    this.services = informer<V1Service>('/api/v1/services', () => this.core.listServiceForAllNamespaces());
    const managed = `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}`;
    this.managedConfigMaps = informer<V1ConfigMap>('/api/v1/configmaps', () => this.core.listConfigMapForAllNamespaces({ labelSelector: managed }), managed);
    const byName = `metadata.name=${template.name}`;
    this.templates = informer<V1ConfigMap>(
      `/api/v1/namespaces/${template.namespace}/configmaps`,
      () => this.core.listNamespacedConfigMap({ namespace: template.namespace, fieldSelector: byName }),
      undefined,
      byName,
    );

    const markNamespace = (object: KubernetesObject) => object.metadata?.namespace && this.markDirty(object.metadata.namespace);
    for (const source of [this.pods, this.services, this.managedConfigMaps] as Informer<KubernetesObject>[]) source.on('change', markNamespace);
    this.pods.on('delete', (pod) => this.options.reloader?.forget(podKey(pod.metadata ?? {})));
    this.services.on('delete', (service) => this.lastWrite.delete(`${service.metadata?.namespace}/${service.metadata?.name}`));
    this.templates.on('change', () => {
      this.templateMissingReported = false;
      this.markAll();
    });

    await Promise.all(this.informers.map((each) => each.start()));
    // start() also returns when the first list failed (the informer then
    // restarts with backoff): synced means every informer has listed.
    while (this.running && this.informers.some((each) => each.latestResourceVersion() === '')) {
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    if (!this.running) return;
    this.synced = true;
    this.options.logger.info({ pods: this.pods.list().length, services: this.services.list().length }, 'reconciler caches synced');
    this.markAll();
    const resync = setInterval(() => this.markAll(), this.options.resyncIntervalMs ?? 5 * 60_000);
    resync.unref();
    this.timers.add(resync);
  }

  async stop(): Promise<void> {
    this.running = false;
    this.synced = false;
    this.options.reloader?.stop();
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    await Promise.all(this.informers.splice(0).map((each) => each.stop()));
    await this.idle();
    this.dirty.clear();
    this.lastWrite.clear();
  }

  /** Resolves once no namespace is waiting or being reconciled (tests, benchmarks). */
  idle(): Promise<void> {
    if (this.workers === 0 && (this.dirty.size === 0 || !this.running)) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * client-node's ListWatch stops on any error other than 410, and after a
   * 410 ERROR event it only forgets its resourceVersion, waiting for a stream
   * end that the API server may not send. Both are handled here: errors
   * restart it with backoff; a forgotten resourceVersion (checked every
   * second, no API call) restarts it at once, which relists.
   */
  private keepWatching(informer: ListWatch<KubernetesObject> | ListWatch<never>, path: string): void {
    const source = informer as ListWatch<KubernetesObject>;
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
      this.options.logger.warn({ path, err: String(error), retryInMs: Math.round(delay) }, 'watch failed; restarting');
      this.later(delay, restart);
    });
    const watchdog = setInterval(() => {
      if (!this.synced || restarting || source.latestResourceVersion() !== '') return;
      restarting = true;
      this.options.logger.info({ path }, 'watch expired (410 Gone); relisting');
      const aborted = new Promise<void>((resolve) => {
        expectedAbort = resolve;
        setTimeout(resolve, 1000).unref();
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
    }, 1000);
    watchdog.unref();
    this.timers.add(watchdog);
  }

  private later(ms: number, run: () => void | Promise<void>): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (this.running) void run();
    }, ms);
    this.timers.add(timer);
  }

  private markAll(): void {
    const namespaces = new Set<string>();
    for (const pod of this.pods.list()) if (pod.metadata?.namespace) namespaces.add(pod.metadata.namespace);
    for (const service of this.services.list()) if (service.metadata?.namespace) namespaces.add(service.metadata.namespace);
    for (const namespace of namespaces) this.markDirty(namespace);
  }

  private markDirty(namespace: string): void {
    if (!this.synced) return; // start() marks everything once the caches are complete
    this.dirty.add(namespace);
    // Let a burst of watch events coalesce before the workers start.
    if (this.workers === 0) setImmediate(() => this.pump());
  }

  /**
   * Up to WORKERS namespaces are reconciled at once (writes are round trips,
   * not CPU); a namespace is never reconciled by two workers at a time.
   */
  private pump(): void {
    while (this.running && this.workers < WORKERS && this.nextNamespace() !== undefined) {
      this.workers++;
      void this.work();
    }
    if (this.workers === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  private nextNamespace(): string | undefined {
    for (const namespace of this.dirty) if (!this.inFlight.has(namespace)) return namespace;
    return undefined;
  }

  private async work(): Promise<void> {
    for (let namespace = this.nextNamespace(); this.running && namespace !== undefined; namespace = this.nextNamespace()) {
      this.dirty.delete(namespace);
      this.inFlight.add(namespace);
      try {
        await this.reconcileNamespace(namespace);
        this.attempts.delete(namespace);
        this.options.metrics.reconciles.inc({ result: 'ok' });
      } catch (error) {
        const attempt = this.attempts.get(namespace) ?? 0;
        this.attempts.set(namespace, attempt + 1);
        const delay = backoffMs(attempt);
        this.options.metrics.reconciles.inc({ result: 'error' });
        this.options.logger.warn({ namespace, err: String(error), retryInMs: Math.round(delay) }, 'reconcile failed; retrying');
        const retry = namespace;
        this.later(delay, () => this.markDirty(retry));
      } finally {
        this.inFlight.delete(namespace);
      }
    }
    this.workers--;
    this.pump();
  }

  private async reconcileNamespace(namespace: string): Promise<void> {
    const pods = this.pods
      .list(namespace)
      .map((pod) => readInjectedPod(pod, this.options.defaults))
      .filter((pod): pod is InjectedPod => pod !== undefined);
    for (const service of this.services.list(namespace)) await this.reconcileService(service, pods);
    await this.reconcileConfigMap(namespace, pods);
  }

  private async reconcileService(service: V1Service, pods: InjectedPod[]): Promise<void> {
    const plan = planServicePort(service as ServiceLike, pods);
    const { name, namespace } = service.metadata as { name: string; namespace: string };
    const key = `Service/${namespace}/${name}`;
    switch (plan.kind) {
      case 'none':
        this.reported.delete(key);
        return;
      case 'conflict':
        return this.report('Service', service.metadata as Subject, plan.reason, plan.message);
      case 'apply': {
        this.reported.delete(key);
        const current = service.spec?.ports?.find((p) => p.name === plan.port.name);
        const unchanged = current && current.port === plan.port.port && current.targetPort === plan.port.targetPort && (current.protocol ?? 'TCP') === 'TCP';
        if (unchanged) return;
        return this.applyService(service, [plan.port]);
      }
      case 'remove':
        this.reported.delete(key);
        this.options.logger.info({ service: key, reason: plan.reason }, 'removing the promtail-http port sre-quero added');
        return this.applyService(service, []);
    }
  }

  /** Server-side apply of exactly our ports; an empty list releases (and so removes) ours. */
  private async applyService(service: V1Service, ports: { name?: string; port: number; targetPort?: number | string; protocol?: string }[]): Promise<void> {
    const { name, namespace, resourceVersion } = service.metadata as { name: string; namespace: string; resourceVersion?: string };
    const key = `${namespace}/${name}`;
    const desired = JSON.stringify(ports);
    const previous = this.lastWrite.get(key);
    // Sent already for this very version of the Service: its watch event is on the way.
    if (previous?.desired === desired && previous.resourceVersion === resourceVersion) return;
    const body = { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace }, ...(ports.length > 0 ? { spec: { ports } } : {}) };
    this.options.metrics.reconcilerRequests.inc({ verb: 'apply' });
    try {
      await this.core.patchNamespacedService({ name, namespace, body, fieldManager: FIELD_MANAGER, force: false }, APPLY);
      this.lastWrite.set(key, { desired, resourceVersion });
      this.options.logger.info({ service: `${namespace}/${name}`, ports: ports.map((p) => p.port) }, ports.length > 0 ? 'service port applied' : 'service port released');
    } catch (error) {
      const status = statusOf(error);
      // 409: another field manager owns what we would set; 404: deleted meanwhile; 422: e.g. our port was its last.
      if (status === 409 || status === 422) return this.report('Service', service.metadata as Subject, status === 409 ? 'field_conflict' : 'rejected', apiErrorMessage(error));
      if (status === 404) return;
      throw error;
    }
  }

  private async reconcileConfigMap(namespace: string, pods: InjectedPod[]): Promise<void> {
    const { configMap } = this.options.defaults;
    if (!pods.some((pod) => pod.configMap === configMap)) return;
    const template = this.templates.list()[0]?.data?.[this.options.template.key];
    if (template === undefined) {
      if (this.templateMissingReported) return;
      this.templateMissingReported = true;
      this.options.logger.warn({ template: `${this.options.template.namespace}/${this.options.template.name}` }, 'promtail template ConfigMap missing; namespaces get no ConfigMap until it exists');
      return;
    }
    let existing: ConfigMapLike | undefined = this.managedConfigMaps.get(configMap, namespace);
    if (existing === undefined) existing = await this.readConfigMap(namespace, configMap);
    const plan = planConfigMap(pods, configMap, existing, { key: this.options.template.key, content: template });
    const subject: Subject = { name: configMap, namespace, uid: existing?.metadata?.uid };
    if (plan.kind === 'conflict') return this.report('ConfigMap', subject, 'not_managed', plan.message);
    if (plan.kind === 'none') return;
    const body = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: configMap, namespace, labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE } }, data: plan.data };
    this.options.metrics.reconcilerRequests.inc({ verb: 'apply' });
    try {
      const appliedAt = Date.now();
      await this.core.patchNamespacedConfigMap({ name: configMap, namespace, body, fieldManager: FIELD_MANAGER, force: false }, APPLY);
      this.options.logger.info({ configMap: `${namespace}/${configMap}` }, existing ? 'promtail ConfigMap updated' : 'promtail ConfigMap created');
      if (existing !== undefined) this.requestReloads(namespace, pods, appliedAt);
    } catch (error) {
      if (statusOf(error) === 409) return this.report('ConfigMap', subject, 'field_conflict', apiErrorMessage(error));
      throw error;
    }
  }

  /**
   * Sidecars that started before this change run the old config: ask each to
   * reload once the kubelet has rewritten the file. Pods created since then
   * read the new one at start.
   */
  private requestReloads(namespace: string, pods: InjectedPod[], changedAt: number): void {
    const reloader = this.options.reloader;
    if (reloader === undefined) return;
    const targets = pods
      .filter((pod) => pod.configMap === this.options.defaults.configMap && pod.ip !== undefined && (pod.createdAt ?? 0) < changedAt)
      .map((pod) => ({
        key: podKey({ namespace, name: pod.name, uid: pod.uid }),
        namespace,
        pod: pod.name,
        url: `http://${pod.ip?.includes(':') ? `[${pod.ip}]` : pod.ip}:${pod.metricsPort}/reload`,
      }));
    if (targets.length > 0) reloader.request(targets);
  }

  private async readConfigMap(namespace: string, name: string): Promise<ConfigMapLike | undefined> {
    this.options.metrics.reconcilerRequests.inc({ verb: 'get' });
    try {
      return await this.core.readNamespacedConfigMap({ name, namespace });
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw error;
    }
  }

  /** A conflict is reported once per object and message: log, metric, and an Event on the object. */
  private async report(kind: 'Service' | 'ConfigMap', { name, namespace, uid }: Subject, reason: string, message: string): Promise<void> {
    const key = `${kind}/${namespace}/${name}`;
    if (this.reported.get(key) === message) return;
    this.reported.set(key, message);
    this.options.metrics.reconcileConflicts.inc({ kind, reason });
    this.options.logger.warn({ object: key, reason, message }, 'left alone: conflict');
    const now = new Date();
    this.options.metrics.reconcilerRequests.inc({ verb: 'create' });
    try {
      await this.core.createNamespacedEvent({
        namespace,
        body: {
          metadata: { generateName: `${name}.sre-quero.`, namespace },
          involvedObject: { apiVersion: 'v1', kind, name, namespace, ...(uid ? { uid } : {}) },
          reason: 'LoggingSidecarConflict',
          message: `sre-quero left this ${kind} alone: ${message}`,
          type: 'Warning',
          source: { component: 'sre-quero' },
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
        },
      });
    } catch (error) {
      this.options.logger.warn({ object: key, err: apiErrorMessage(error) }, 'could not record the event');
    }
  }
}
