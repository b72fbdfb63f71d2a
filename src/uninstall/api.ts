import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import { clusterApi, type WriteOutcome } from '../reconciler/api.js';
import { apiErrorMessage } from '../reconciler/kube.js';
import type { ObjectMeta, ServicePort } from '../reconciler/model.js';

// Every Kubernetes call `sre-quero uninstall` makes, built in one place. The
// uninstall logic (uninstall.ts) sees only UninstallApi; unit tests pass a
// fake. Reads and deletes are plain REST calls on the paths below; releasing
// the Service ports is the reconciler's own server-side apply (same field
// manager, same body), so it removes exactly what the reconciler would.

/** The kinds uninstall reads or deletes, and where the API serves them. */
export const RESOURCES = {
  MutatingWebhookConfiguration: { group: '/apis/admissionregistration.k8s.io/v1', plural: 'mutatingwebhookconfigurations', namespaced: false },
  ValidatingWebhookConfiguration: { group: '/apis/admissionregistration.k8s.io/v1', plural: 'validatingwebhookconfigurations', namespaced: false },
  ValidatingAdmissionPolicyBinding: { group: '/apis/admissionregistration.k8s.io/v1', plural: 'validatingadmissionpolicybindings', namespaced: false },
  ValidatingAdmissionPolicy: { group: '/apis/admissionregistration.k8s.io/v1', plural: 'validatingadmissionpolicies', namespaced: false },
  ClusterRoleBinding: { group: '/apis/rbac.authorization.k8s.io/v1', plural: 'clusterrolebindings', namespaced: false },
  ClusterRole: { group: '/apis/rbac.authorization.k8s.io/v1', plural: 'clusterroles', namespaced: false },
  Namespace: { group: '/api/v1', plural: 'namespaces', namespaced: false },
  Deployment: { group: '/apis/apps/v1', plural: 'deployments', namespaced: true },
  Pod: { group: '/api/v1', plural: 'pods', namespaced: true },
  Service: { group: '/api/v1', plural: 'services', namespaced: true },
  ConfigMap: { group: '/api/v1', plural: 'configmaps', namespaced: true },
  Secret: { group: '/api/v1', plural: 'secrets', namespaced: true },
  ServiceAccount: { group: '/api/v1', plural: 'serviceaccounts', namespaced: true },
  Role: { group: '/apis/rbac.authorization.k8s.io/v1', plural: 'roles', namespaced: true },
  RoleBinding: { group: '/apis/rbac.authorization.k8s.io/v1', plural: 'rolebindings', namespaced: true },
  PodDisruptionBudget: { group: '/apis/policy/v1', plural: 'poddisruptionbudgets', namespaced: true },
  Lease: { group: '/apis/coordination.k8s.io/v1', plural: 'leases', namespaced: true },
  // cert-manager's (overlays/cert-manager, the chart's certManager source); absent without cert-manager.
  Certificate: { group: '/apis/cert-manager.io/v1', plural: 'certificates', namespaced: true },
  Issuer: { group: '/apis/cert-manager.io/v1', plural: 'issuers', namespaced: true },
} as const satisfies Record<string, { group: string; plural: string; namespaced: boolean }>;

export type Kind = keyof typeof RESOURCES;

/** The fields of any object uninstall reads; each kind fills its own. */
export interface KubeObject {
  metadata: ObjectMeta;
  spec?: {
    replicas?: number;
    policyName?: string;
    secretName?: string;
    ports?: ServicePort[];
    template?: { spec?: { volumes?: { secret?: { secretName?: string } }[]; containers?: { args?: string[]; env?: { name: string; value?: string }[] }[] } };
  };
  webhooks?: { name?: string; clientConfig?: { service?: { namespace?: string; name?: string } } }[];
  subjects?: { kind?: string; name?: string; namespace?: string }[];
  roleRef?: { kind?: string; name?: string };
}

export interface UninstallApi {
  /**
   * Cluster-scoped kinds: every object. Namespaced ones: those in
   * `namespace`, or in every namespace without one. A kind the cluster does
   * not serve (cert-manager's, without cert-manager) lists as none.
   */
  list(kind: Kind, options?: { namespace?: string; labelSelector?: string }): Promise<KubeObject[]>;
  /** undefined when it does not exist. */
  get(kind: Kind, name: string, namespace?: string): Promise<KubeObject | undefined>;
  /** Deletes (dependents in the background); false when it was not there. */
  remove(kind: Kind, name: string, namespace?: string): Promise<boolean>;
  /** The reconciler's server-side apply with no ports: releases every port its field manager owns; ports another manager owns too stay. */
  releaseServicePorts(namespace: string, name: string): Promise<WriteOutcome>;
}

/** A refused or failed call, named: what, the status (none when the server was not reached), the server's message. uninstall.ts wraps it in its coded error. */
const callFailed = (what: string, status: number | undefined, message: string): Error => new Error(`${what}: ${status === undefined ? '' : `${status} `}${message}`);

const enc = encodeURIComponent;

export function uninstallApi(kc: KubeConfig): UninstallApi {
  const cluster = kc.getCurrentCluster();
  if (cluster === null) throw new Error('the kubeconfig names no cluster');
  const server = new URL(cluster.server);

  const call = async (method: 'GET' | 'DELETE', path: string, body?: unknown): Promise<{ status: number; body: unknown }> => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const options: RequestOptions = {
      method,
      protocol: server.protocol,
      hostname: server.hostname.replace(/^\[|\]$/g, ''),
      port: server.port || (server.protocol === 'https:' ? 443 : 80),
      path: `${server.pathname.replace(/\/$/, '')}${path}`,
      headers: { accept: 'application/json', ...(payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }) },
      timeout: 30_000,
    };
    await kc.applyToHTTPSOptions(options);
    const send = server.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = send(options, (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          try {
            parsed = text === '' ? undefined : JSON.parse(text);
          } catch {
            // not JSON: keep the text for the message
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error('no answer within 30 s')));
      req.on('error', (error) => reject(callFailed(`${method} ${path}`, undefined, apiErrorMessage(error))));
      req.end(payload);
    });
  };
  const messageOf = (body: unknown): string => (typeof body === 'object' && body !== null && typeof (body as { message?: unknown }).message === 'string' ? (body as { message: string }).message : String(body));
  const pathOf = (kind: Kind, namespace: string | undefined, name?: string): string => {
    const { group, plural, namespaced } = RESOURCES[kind];
    const scope = namespaced && namespace !== undefined ? `/namespaces/${enc(namespace)}` : '';
    return `${group}${scope}/${plural}${name === undefined ? '' : `/${enc(name)}`}`;
  };
  const writes = clusterApi(kc, () => undefined).writes;

  return {
    async list(kind, options = {}) {
      const items: KubeObject[] = [];
      let next: string | undefined;
      do {
        const query = new URLSearchParams({ limit: '500' });
        if (options.labelSelector !== undefined) query.set('labelSelector', options.labelSelector);
        if (next !== undefined) query.set('continue', next);
        const path = `${pathOf(kind, options.namespace)}?${query}`;
        const reply = await call('GET', path);
        // 404: the API group or kind is not served here (cert-manager not installed).
        if (reply.status === 404) return [];
        if (reply.status !== 200) throw callFailed(`list ${kind}`, reply.status, messageOf(reply.body));
        const page = reply.body as { items?: KubeObject[]; metadata?: { continue?: string } };
        items.push(...(page.items ?? []));
        next = page.metadata?.continue || undefined;
      } while (next !== undefined);
      return items;
    },
    async get(kind, name, namespace) {
      const reply = await call('GET', pathOf(kind, namespace, name));
      if (reply.status === 404) return undefined;
      if (reply.status !== 200) throw callFailed(`get ${kind} ${name}`, reply.status, messageOf(reply.body));
      return reply.body as KubeObject;
    },
    async remove(kind, name, namespace) {
      const reply = await call('DELETE', pathOf(kind, namespace, name), { apiVersion: 'v1', kind: 'DeleteOptions', propagationPolicy: 'Background' });
      if (reply.status === 404) return false;
      if (reply.status !== 200 && reply.status !== 202) throw callFailed(`delete ${kind} ${namespace === undefined ? '' : `${namespace}/`}${name}`, reply.status, messageOf(reply.body));
      return true;
    },
    releaseServicePorts: (namespace, name) => writes.applyServicePorts(namespace, name, []),
  };
}
