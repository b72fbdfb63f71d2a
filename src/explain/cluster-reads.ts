import { request as httpRequest, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import { controllerRef, type ObjectRef, type OwnedKind } from '../cluster/owners.js';
import { ClusterReadFailedError, ObjectNotFoundError, ReadForbiddenError } from '../errors.js';
import type { PodTemplate } from '../injection/index.js';
import type { PodLike } from '../reconciler/model.js';
import { INJECTED_SELECTOR, RUNNING_SELECTOR } from '../reconciler/model.js';
import type { WebhookConfigurationLike } from './webhook-routing.js';

// Every read `sre-quero explain` makes of a live cluster, in one place (the
// I/O edge; the rest of explain works on what these return, and unit tests
// pass a fake). Objects come as the API server sends them, plain JSON: the
// injection core reads them exactly as it reads an AdmissionReview's pod
// (client-node's models would turn them into class instances and drop fields
// they do not know). A failed read is a coded error naming what could not be
// read and how to check: not found, forbidden (with the `kubectl auth can-i`
// to run), or anything else with the API server's message; never a stack.

/** A pod, or a workload's pod template, with where it lives and who owns it. */
export interface ReadObject {
  kind: string;
  name: string;
  namespace: string;
  uid?: string;
  ownerReferences?: unknown;
  /** The pod itself, or the workload's template. */
  template: PodTemplate;
}

export interface NamespaceFacts {
  name: string;
  labels: Record<string, string>;
}

export interface ExplainReads {
  /** A pod or a workload (deployment, statefulset, daemonset, replicaset, job, cronjob), as the kind `explain` was given. */
  object(kind: WorkloadKind, namespace: string, name: string): Promise<ReadObject>;
  namespace(name: string): Promise<NamespaceFacts>;
  mutatingWebhookConfigurations(): Promise<WebhookConfigurationLike[]>;
  /** A ConfigMap's data; undefined when it does not exist. */
  configMapData(namespace: string, name: string): Promise<Record<string, string> | undefined>;
  /** Namespaces matching the label selector. */
  namespaces(labelSelector: string): Promise<NamespaceFacts[]>;
  /** Running pods of a namespace. */
  runningPods(namespace: string): Promise<PodLike[]>;
  /** Running injected pods, everywhere. */
  runningInjectedPods(): Promise<PodLike[]>;
  controllerOf(kind: OwnedKind, namespace: string, name: string): Promise<ObjectRef | undefined>;
}

/** The kinds `explain KIND NAME` reads, by resource path and where their pod template is. */
export const WORKLOAD_KINDS = {
  pod: { kind: 'Pod', api: '/api/v1', resource: 'pods', template: [] },
  deployment: { kind: 'Deployment', api: '/apis/apps/v1', resource: 'deployments', template: ['spec', 'template'] },
  statefulset: { kind: 'StatefulSet', api: '/apis/apps/v1', resource: 'statefulsets', template: ['spec', 'template'] },
  daemonset: { kind: 'DaemonSet', api: '/apis/apps/v1', resource: 'daemonsets', template: ['spec', 'template'] },
  replicaset: { kind: 'ReplicaSet', api: '/apis/apps/v1', resource: 'replicasets', template: ['spec', 'template'] },
  job: { kind: 'Job', api: '/apis/batch/v1', resource: 'jobs', template: ['spec', 'template'] },
  cronjob: { kind: 'CronJob', api: '/apis/batch/v1', resource: 'cronjobs', template: ['spec', 'jobTemplate', 'spec', 'template'] },
} as const;
export type WorkloadKind = keyof typeof WORKLOAD_KINDS;

/** kubectl's short names and plurals, for the command line. */
export const KIND_ALIASES: Readonly<Record<string, WorkloadKind>> = {
  po: 'pod',
  pods: 'pod',
  deploy: 'deployment',
  deployments: 'deployment',
  sts: 'statefulset',
  statefulsets: 'statefulset',
  ds: 'daemonset',
  daemonsets: 'daemonset',
  rs: 'replicaset',
  replicasets: 'replicaset',
  jobs: 'job',
  cj: 'cronjob',
  cronjobs: 'cronjob',
};

type Json = Record<string, unknown>;
const PAGE = 500;

/** One GET with the kubeconfig's credentials; the status and the parsed body. Rejects only when no answer came. */
export type GetJson = (path: string) => Promise<{ status: number; body: unknown }>;

export function getJsonWith(kc: KubeConfig): GetJson {
  // A server may carry a path of its own (a proxy in front of the API server): paths go after it.
  const server = (kc.getCurrentCluster()?.server ?? '').replace(/\/$/, '');
  return async (path) => {
    const options: RequestOptions & Json = { method: 'GET', headers: { accept: 'application/json' }, timeout: 30_000 };
    await kc.applyToHTTPSOptions(options as never);
    const url = new URL(`${server}${path}`);
    // The kubeconfig's agent is an HTTPS one; a plain-HTTP server (a local proxy) takes node's own.
    if (url.protocol === 'http:') delete options.agent;
    return new Promise((resolve, reject) => {
      const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
      const req = send(url, options, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown = text;
          try {
            body = JSON.parse(text);
          } catch {
            // not JSON: kept as text for the message
          }
          resolve({ status: res.statusCode ?? 0, body });
        });
      });
      req.on('timeout', () => req.destroy(new Error(`GET ${path}: no answer within 30 s`)));
      req.on('error', reject);
      req.end();
    });
  };
}

const messageOf = (body: unknown): string =>
  typeof body === 'object' && body !== null && typeof (body as { message?: unknown }).message === 'string' ? (body as { message: string }).message : String(body).slice(0, 200);

const getIn = (object: unknown, path: readonly string[]): unknown => path.reduce<unknown>((at, key) => (typeof at === 'object' && at !== null ? (at as Json)[key] : undefined), object);

/**
 * The reads, over `get`. `what` names the object in messages; `canI` is the
 * verb and resource for the `kubectl auth can-i` a forbidden read suggests.
 */
export function explainReads(get: GetJson): ExplainReads {
  const read = async (path: string, what: string, canI: string, options: { missingOk?: boolean } = {}): Promise<Json | undefined> => {
    let reply: { status: number; body: unknown };
    try {
      reply = await get(path);
    } catch (error) {
      const cause = (error as { code?: string }).code ?? (error as Error).message;
      throw new ClusterReadFailedError(what, `the API server did not answer (${cause})`);
    }
    if (reply.status === 200) return reply.body as Json;
    if (reply.status === 404 && options.missingOk) return undefined;
    if (reply.status === 404) throw new ObjectNotFoundError(what, messageOf(reply.body));
    if (reply.status === 403) throw new ReadForbiddenError(what, `kubectl auth can-i ${canI}`, messageOf(reply.body));
    if (reply.status === 401) throw new ClusterReadFailedError(what, `401 Unauthorized: the API server refused the kubeconfig's credentials`);
    throw new ClusterReadFailedError(what, `${reply.status} ${messageOf(reply.body)}`);
  };
  const list = async (path: string, what: string, canI: string): Promise<Json[]> => {
    const items: Json[] = [];
    let next: string | undefined;
    do {
      const separator = path.includes('?') ? '&' : '?';
      const page = (await read(`${path}${separator}limit=${PAGE}${next ? `&continue=${encodeURIComponent(next)}` : ''}`, what, canI)) as Json;
      items.push(...((page.items as Json[] | undefined) ?? []));
      next = (getIn(page, ['metadata', 'continue']) as string | undefined) || undefined;
    } while (next !== undefined);
    return items;
  };
  const q = encodeURIComponent;
  return {
    object: async (kind, namespace, name) => {
      const { kind: Kind, api, resource, template } = WORKLOAD_KINDS[kind];
      const object = (await read(`${api}/namespaces/${q(namespace)}/${resource}/${q(name)}`, `${kind} ${name} in namespace ${namespace}`, `get ${resource} -n ${namespace}`)) as Json;
      const metadata = (object.metadata ?? {}) as Json;
      const podTemplate = (template.length === 0 ? object : getIn(object, template)) as PodTemplate | undefined;
      if (podTemplate?.spec === undefined) throw new ClusterReadFailedError(`${kind} ${name} in namespace ${namespace}`, 'it has no pod template');
      return {
        kind: Kind,
        name,
        namespace,
        ...(typeof metadata.uid === 'string' ? { uid: metadata.uid } : {}),
        ownerReferences: metadata.ownerReferences,
        template: podTemplate,
      };
    },
    namespace: async (name) => {
      const object = (await read(`/api/v1/namespaces/${q(name)}`, `namespace ${name}`, `get namespaces`)) as Json;
      return { name, labels: (getIn(object, ['metadata', 'labels']) as Record<string, string> | undefined) ?? {} };
    },
    mutatingWebhookConfigurations: async () =>
      (await list('/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations', 'the mutating webhook configurations', 'list mutatingwebhookconfigurations')) as WebhookConfigurationLike[],
    configMapData: async (namespace, name) => {
      const object = await read(`/api/v1/namespaces/${q(namespace)}/configmaps/${q(name)}`, `ConfigMap ${name} in namespace ${namespace}`, `get configmaps -n ${namespace}`, { missingOk: true });
      return object === undefined ? undefined : ((object.data as Record<string, string> | undefined) ?? {});
    },
    namespaces: async (labelSelector) =>
      (await list(`/api/v1/namespaces?labelSelector=${q(labelSelector)}`, 'the namespaces', 'list namespaces')).map((object) => ({
        name: getIn(object, ['metadata', 'name']) as string,
        labels: (getIn(object, ['metadata', 'labels']) as Record<string, string> | undefined) ?? {},
      })),
    runningPods: async (namespace) =>
      (await list(`/api/v1/namespaces/${q(namespace)}/pods?fieldSelector=${q(RUNNING_SELECTOR)}`, `the pods in namespace ${namespace}`, `list pods -n ${namespace}`)) as PodLike[],
    runningInjectedPods: async () =>
      (await list(`/api/v1/pods?labelSelector=${q(INJECTED_SELECTOR)}&fieldSelector=${q(RUNNING_SELECTOR)}`, 'the injected pods', 'list pods --all-namespaces')) as PodLike[],
    controllerOf: async (kind, namespace, name) => {
      const which = kind === 'ReplicaSet' ? WORKLOAD_KINDS.replicaset : WORKLOAD_KINDS.job;
      const object = await read(`${which.api}/namespaces/${q(namespace)}/${which.resource}/${q(name)}`, `${kind} ${name} in namespace ${namespace}`, `get ${which.resource} -n ${namespace}`);
      return controllerRef(getIn(object, ['metadata', 'ownerReferences']));
    },
  };
}
