import { AGENT_PROFILES } from '../injection/index.js';
import type { ConflictEvent, ReconcilerApi } from './api.js';
import { planConfigMap, type ConfigMapLike, type Template } from './config-maps.js';
import { readInjectedPod, type InjectedPod, type PodLike, type ServiceLike, type ServicePort } from './model.js';
import { planServicePort } from './service-ports.js';
import { alloyConfigHash, type ReloadTarget } from './sidecar-reload.js';

// One namespace's reconcile: Service ports and the managed sidecar ConfigMap
// brought in line with the injected pods the caches hold. Works against the
// narrow ReconcilerApi and read-only caches, so unit tests run it with fakes;
// the controller (reconciler.ts) wires it to informers and the work queue.

/** What the informers hold, read-only. */
export interface ReconcileCaches {
  pods(namespace: string): readonly PodLike[];
  services(namespace: string): readonly ServiceLike[];
  /** The managed ConfigMap of that name in the namespace, if the cache has it. */
  managedConfigMap(namespace: string, name: string): ConfigMapLike | undefined;
  /** The central template's data (every key), or undefined while its ConfigMap is missing or empty. */
  template(): Template | undefined;
}

export interface NamespaceReconcilerOptions {
  api: ReconcilerApi;
  caches: ReconcileCaches;
  /** Used for pods whose status annotation lacks a value. */
  defaults: { metricsPort: number; configMap: string };
  template: { namespace: string; name: string };
  log: { info(fields: object, message: string): void; warn(fields: object, message: string): void };
  /** Counted once per object and message: sre_quero_reconcile_conflicts_total. */
  onConflict(kind: ConflictEvent['kind'], reason: string): void;
  /** Asks running sidecars to reload after their ConfigMap changed; none: they get it at restart. */
  requestReloads?(targets: readonly ReloadTarget[]): void;
  now(): number;
}

export const podKey = (metadata: { namespace?: string | undefined; name?: string | undefined; uid?: string | undefined }) => `${metadata.namespace}/${metadata.name}/${metadata.uid ?? ''}`;

type Subject = { name: string; namespace: string; uid?: string | undefined };

export class NamespaceReconciler {
  private readonly reported = new Map<string, string>();
  /** What we last sent per Service, and for which version of it: a watch event is on its way. */
  private readonly lastWrite = new Map<string, { desired: string; resourceVersion: string | undefined }>();
  private templateMissingReported = false;
  /** Agent keys the template lacks that we already warned about (once per template version). */
  private readonly keysMissingReported = new Set<string>();

  constructor(private readonly options: NamespaceReconcilerOptions) {}

  async reconcile(namespace: string): Promise<void> {
    const pods = this.options.caches
      .pods(namespace)
      .map((pod) => readInjectedPod(pod, this.options.defaults))
      .filter((pod): pod is InjectedPod => pod !== undefined);
    for (const service of this.options.caches.services(namespace)) await this.reconcileService(service, pods);
    await this.reconcileConfigMap(namespace, pods);
  }

  /** The Service is gone: what we sent it no longer matters. */
  forgetService(namespace: string, name: string): void {
    this.lastWrite.delete(`${namespace}/${name}`);
  }

  /** The template changed: if it is missing again, say so again. */
  templateChanged(): void {
    this.templateMissingReported = false;
    this.keysMissingReported.clear();
  }

  private async reconcileService(service: ServiceLike, pods: InjectedPod[]): Promise<void> {
    const plan = planServicePort(service, pods);
    const metadata = service.metadata as Subject & { resourceVersion?: string };
    const key = `Service/${metadata.namespace}/${metadata.name}`;
    switch (plan.kind) {
      case 'none':
        this.reported.delete(key);
        return;
      case 'conflict':
        return this.report('Service', metadata, plan.reason, plan.message);
      case 'apply': {
        this.reported.delete(key);
        const current = service.spec?.ports?.find((p) => p.name === plan.port.name);
        const unchanged = current && current.port === plan.port.port && current.targetPort === plan.port.targetPort && (current.protocol ?? 'TCP') === 'TCP';
        if (unchanged) return;
        return this.applyService(metadata, [plan.port]);
      }
      case 'remove':
        this.reported.delete(key);
        this.options.log.info({ service: key, reason: plan.reason }, 'removing the promtail-http port sre-quero added');
        return this.applyService(metadata, []);
    }
  }

  private async applyService(metadata: Subject & { resourceVersion?: string }, ports: ServicePort[]): Promise<void> {
    const { name, namespace, resourceVersion } = metadata;
    const key = `${namespace}/${name}`;
    const desired = JSON.stringify(ports);
    const previous = this.lastWrite.get(key);
    // Sent already for this very version of the Service: its watch event is on the way.
    if (previous?.desired === desired && previous.resourceVersion === resourceVersion) return;
    const outcome = await this.options.api.applyServicePorts(namespace, name, ports);
    if (outcome.ok) {
      this.lastWrite.set(key, { desired, resourceVersion });
      this.options.log.info({ service: key, ports: ports.map((p) => p.port) }, ports.length > 0 ? 'service port applied' : 'service port released');
      return;
    }
    if (outcome.status === 404) return; // deleted meanwhile
    return this.report('Service', metadata, outcome.status === 409 ? 'field_conflict' : 'rejected', outcome.message);
  }

  private async reconcileConfigMap(namespace: string, pods: InjectedPod[]): Promise<void> {
    const { defaults, caches, api, template } = this.options;
    const name = defaults.configMap;
    const users = pods.filter((pod) => pod.configMap === name);
    if (users.length === 0) return;
    const data = caches.template();
    if (data === undefined) {
      if (this.templateMissingReported) return;
      this.templateMissingReported = true;
      this.options.log.warn({ template: `${template.namespace}/${template.name}` }, 'promtail template ConfigMap missing; namespaces get no ConfigMap until it exists');
      return;
    }
    this.reportMissingKeys(namespace, users, data);
    // The cache holds only ConfigMaps labelled as ours; an unlabelled one of that name is a team's (a conflict).
    const existing = caches.managedConfigMap(namespace, name) ?? (await api.readConfigMap(namespace, name));
    const plan = planConfigMap(pods, name, existing, data);
    const subject: Subject = { name, namespace, uid: existing?.metadata?.uid };
    if (plan.kind === 'conflict') return this.report('ConfigMap', subject, 'not_managed', plan.message);
    if (plan.kind === 'none') return;
    const appliedAt = this.options.now();
    const outcome = await api.applyConfigMap(namespace, name, plan.data);
    if (!outcome.ok) {
      if (outcome.status === 409) return this.report('ConfigMap', subject, 'field_conflict', outcome.message);
      throw new Error(`applying ConfigMap ${namespace}/${name}: ${outcome.message}`);
    }
    this.options.log.info({ configMap: `${namespace}/${name}` }, existing ? 'promtail ConfigMap updated' : 'promtail ConfigMap created');
    if (existing !== undefined) this.requestReloads(namespace, users, existing.data ?? {}, plan.data, appliedAt);
  }

  /** An agent whose key the template lacks cannot start in this namespace: say so, once per key until the template changes. */
  private reportMissingKeys(namespace: string, pods: InjectedPod[], data: Template): void {
    for (const agent of new Set(pods.map((pod) => pod.agent))) {
      const key = AGENT_PROFILES[agent].configKey;
      if (data[key] !== undefined || this.keysMissingReported.has(key)) continue;
      this.keysMissingReported.add(key);
      const { template } = this.options;
      this.options.log.warn(
        { template: `${template.namespace}/${template.name}`, key, agent, namespace },
        `the sidecar template has no key ${key}, which ${agent} sidecars read: they cannot start until it has one (deploy/base/promtail-template.yaml ships it)`,
      );
    }
  }

  /**
   * Sidecars that started before this change run the old config: ask each to
   * reload once the kubelet has rewritten the file. Pods created since then
   * read the new one at start, and an agent whose own key did not change has
   * nothing new to read (promtail would answer "config has not changed" for
   * the whole window).
   */
  private requestReloads(namespace: string, pods: InjectedPod[], before: Readonly<Record<string, string>>, after: Readonly<Record<string, string>>, changedAt: number): void {
    const { requestReloads } = this.options;
    if (requestReloads === undefined) return;
    const hashes = new Map<string, string>();
    const targets: ReloadTarget[] = [];
    for (const pod of pods) {
      const key = AGENT_PROFILES[pod.agent].configKey;
      const content = after[key];
      if (pod.ip === undefined || (pod.createdAt ?? 0) >= changedAt || content === undefined || before[key] === content) continue;
      let configHash = hashes.get(key);
      if (configHash === undefined) hashes.set(key, (configHash = alloyConfigHash(content)));
      targets.push({
        key: podKey({ namespace, name: pod.name, uid: pod.uid }),
        namespace,
        pod: pod.name,
        agent: pod.agent,
        base: `http://${pod.ip.includes(':') ? `[${pod.ip}]` : pod.ip}:${pod.metricsPort}`,
        configHash,
      });
    }
    if (targets.length > 0) requestReloads(targets);
  }

  /** A conflict is reported once per object and message: log, metric, and an Event on the object. */
  private async report(kind: ConflictEvent['kind'], { name, namespace, uid }: Subject, reason: string, message: string): Promise<void> {
    const key = `${kind}/${namespace}/${name}`;
    if (this.reported.get(key) === message) return;
    this.reported.set(key, message);
    this.options.onConflict(kind, reason);
    this.options.log.warn({ object: key, reason, message }, 'left alone: conflict');
    try {
      await this.options.api.createEvent({ kind, name, namespace, uid, message });
    } catch (error) {
      this.options.log.warn({ object: key, err: error instanceof Error ? error.message : String(error) }, 'could not record the event');
    }
  }
}
