import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import type { ObjectRef, OwnedKind } from '../../src/cluster/owners.js';
import { ObjectNotFoundError, ReadForbiddenError } from '../../src/errors.js';
import { WORKLOAD_KINDS, type ExplainReads, type NamespaceFacts, type ReadObject, type WorkloadKind } from '../../src/explain/cluster-reads.js';
import type { WebhookConfigurationLike } from '../../src/explain/webhook-routing.js';
import { controllerRef } from '../../src/cluster/owners.js';
import type { PodLike } from '../../src/reconciler/model.js';
import type { Json } from './reviews.js';

// An in-memory cluster behind ExplainReads, for the explain command's tests:
// objects as the API server stores them (plain JSON), the webhook
// configuration of deploy/base, the settings ConfigMap of deploy/base, and
// reads that can be made to fail as a user without rights sees them.

export const INSTALLED_WEBHOOKS = parseAllDocuments(readFileSync(new URL('../../deploy/base/webhooks.yaml', import.meta.url), 'utf8'))
  .map((doc) => doc.toJS() as WebhookConfigurationLike & { kind: string })
  .filter((doc) => doc?.kind === 'MutatingWebhookConfiguration');
export const INSTALLED_SETTINGS = (parseAllDocuments(readFileSync(new URL('../../deploy/base/settings.yaml', import.meta.url), 'utf8'))[0]?.toJS() as Json).data as Record<string, string>;

export class FakeCluster implements ExplainReads {
  /** kind/namespace/name -> the object as stored. */
  readonly objects = new Map<string, Json>();
  readonly namespaceLabels = new Map<string, Record<string, string>>();
  webhooks: WebhookConfigurationLike[] = INSTALLED_WEBHOOKS;
  readonly configMaps = new Map<string, Record<string, string>>([['sre-quero/sre-quero-settings', INSTALLED_SETTINGS]]);
  /** Reads, as "what": they are refused (forbidden). */
  readonly forbidden = new Set<string>();
  readonly calls: string[] = [];

  add(kind: WorkloadKind, namespace: string, object: Json): this {
    this.objects.set(`${kind}/${namespace}/${object.metadata.name}`, { ...object, metadata: { namespace, ...object.metadata } });
    return this;
  }

  namespaceOf(name: string, labels: Record<string, string> = {}): this {
    this.namespaceLabels.set(name, { 'kubernetes.io/metadata.name': name, ...labels });
    return this;
  }

  private guard(what: string): void {
    this.calls.push(what);
    if (this.forbidden.has(what)) throw new ReadForbiddenError(what, `kubectl auth can-i get ${what}`, 'forbidden');
  }

  async object(kind: WorkloadKind, namespace: string, name: string): Promise<ReadObject> {
    this.guard(`${kind} ${namespace}/${name}`);
    const object = this.objects.get(`${kind}/${namespace}/${name}`);
    if (object === undefined) throw new ObjectNotFoundError(`${kind} ${name} in namespace ${namespace}`, `${kind}s "${name}" not found`);
    const path = WORKLOAD_KINDS[kind].template as readonly string[];
    const template = path.reduce<Json>((at, key) => at?.[key], object);
    return { kind: WORKLOAD_KINDS[kind].kind, name, namespace, uid: object.metadata.uid, ownerReferences: object.metadata.ownerReferences, template: template as ReadObject['template'] };
  }

  async namespace(name: string): Promise<NamespaceFacts> {
    this.guard(`namespace ${name}`);
    const labels = this.namespaceLabels.get(name);
    if (labels === undefined) throw new ObjectNotFoundError(`namespace ${name}`, 'not found');
    return { name, labels };
  }

  async mutatingWebhookConfigurations(): Promise<WebhookConfigurationLike[]> {
    this.guard('mutatingwebhookconfigurations');
    return this.webhooks;
  }

  async configMapData(namespace: string, name: string): Promise<Record<string, string> | undefined> {
    this.guard(`configmap ${namespace}/${name}`);
    return this.configMaps.get(`${namespace}/${name}`);
  }

  async namespaces(labelSelector: string): Promise<NamespaceFacts[]> {
    this.guard(`namespaces ${labelSelector}`);
    return [...this.namespaceLabels]
      .filter(([, labels]) => ['enabled', 'enforced'].includes(labels['logging.sre-quero/injection'] ?? ''))
      .map(([name, labels]) => ({ name, labels }));
  }

  private pods(): PodLike[] {
    return [...this.objects].filter(([key]) => key.startsWith('pod/')).map(([, pod]) => pod as PodLike);
  }

  async runningPods(namespace: string): Promise<PodLike[]> {
    this.guard(`pods ${namespace}`);
    return this.pods().filter((pod) => pod.metadata?.namespace === namespace && pod.status?.phase === 'Running');
  }

  async runningInjectedPods(): Promise<PodLike[]> {
    this.guard('injected pods');
    return this.pods().filter((pod) => pod.metadata?.labels?.['logging.sre-quero/injected'] === 'true' && pod.status?.phase === 'Running');
  }

  async controllerOf(kind: OwnedKind, namespace: string, name: string): Promise<ObjectRef | undefined> {
    const object = await this.object(kind === 'ReplicaSet' ? 'replicaset' : 'job', namespace, name);
    return controllerRef(object.ownerReferences);
  }
}

/** A pod template of the recipe's shape. */
export function template(annotations: Record<string, string> = {}, labels: Record<string, string> = { app: 'web' }, spec: Json = {}): Json {
  return { metadata: { labels, annotations }, spec: { containers: [{ name: 'web', image: 'nginx:1.27' }], ...spec } };
}

/** A Deployment, its ReplicaSet and one running pod of it (the pod as given, e.g. already injected). */
export function deployment(cluster: FakeCluster, namespace: string, name: string, podTemplate: Json, pod?: Json): void {
  const rsName = `${name}-7d9f`;
  cluster.add('deployment', namespace, { metadata: { name, uid: `${name}-uid` }, spec: { template: podTemplate } });
  cluster.add('replicaset', namespace, {
    metadata: { name: rsName, uid: `${rsName}-uid`, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name, uid: `${name}-uid`, controller: true }] },
    spec: { template: podTemplate },
  });
  const stored = pod ?? podTemplate;
  cluster.add('pod', namespace, {
    ...stored,
    metadata: { ...stored.metadata, name: `${rsName}-abc`, uid: `${rsName}-abc-uid`, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: rsName, uid: `${rsName}-uid`, controller: true }] },
    status: { phase: 'Running' },
  });
}
