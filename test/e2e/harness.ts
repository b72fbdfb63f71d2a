import type { AddressInfo } from 'node:net';
import { parseAllDocuments } from 'yaml';
import t from 'tap';
import { makeCertificates } from '../../src/certs.js';
import { runCaptured } from '../cluster/client.js';
import { clusterRequired, ENABLE_HINT, findBinaries, K8S_VERSION, startControlPlane, type ControlPlane, type Identity } from '../cluster/control-plane.js';
import { helmPath } from '../cluster/versions.js';
import { testApp, type Json, type TestApp } from '../helpers/reviews.js';

// Shared set-up of the end-to-end suite: a real control plane, the webhook as
// a real HTTPS server on loopback, and the webhook configurations from
// deploy/base with their service reference turned into that server's URL.

export const repoRoot = new URL('../../', import.meta.url).pathname;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Starts the control plane, or reports why not: a one-line skip for a
 * developer, a failure where the suite is required (CI).
 */
export async function controlPlaneOrSkip(options: { identities?: Identity[]; apiserverArgs?: string[] } = {}): Promise<ControlPlane | undefined> {
  const binaries = findBinaries();
  if (binaries === undefined) {
    if (clusterRequired()) t.fail(`SRE_QUERO_REQUIRE_CLUSTER=1 but ${ENABLE_HINT}`);
    else t.plan(0, ENABLE_HINT);
    return undefined;
  }
  const controlPlane = await startControlPlane(binaries, options);
  t.teardown(() => controlPlane.stop());
  const version = await controlPlane.api('GET', '/version');
  t.comment(`real control plane: kube-apiserver ${version.body.gitVersion} (pinned v${K8S_VERSION})`);
  return controlPlane;
}

/** Renders a kustomization with the kubectl the suite uses and returns its objects. */
export async function kustomize(cp: ControlPlane, dir: string): Promise<Json[]> {
  const rendered = await cp.kubectl(['kustomize', dir]);
  if (rendered.status !== 0) throw new Error(`kubectl kustomize ${dir} failed: ${rendered.stderr}`);
  return parseAllDocuments(rendered.stdout).map((doc) => doc.toJS() as Json).filter(Boolean);
}

export interface Webhook {
  url: string;
  ca: string;
  app: TestApp['app'];
  /** Namespaces the webhook received reviews for, in order. */
  reviewedNamespaces(): string[];
  reviews(): Json[];
}

export async function startWebhook(): Promise<Webhook> {
  const bundle = makeCertificates({ commonName: 'localhost', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], validDays: 1 });
  const served = testApp({ https: { cert: bundle.cert, key: bundle.key } });
  await served.app.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(() => served.app.close());
  const { port } = served.app.server.address() as AddressInfo;
  const reviews = () => served.logLines().filter((line) => line.msg === 'admission review');
  return {
    url: `https://127.0.0.1:${port}`,
    ca: bundle.caCert,
    app: served.app,
    reviews,
    reviewedNamespaces: () => reviews().map((line) => line.namespace as string),
  };
}

const WEBHOOK_KINDS: Record<string, string> = {
  MutatingWebhookConfiguration: '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations',
  ValidatingWebhookConfiguration: '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations',
};

/**
 * The webhook configurations of deploy/base, pointed at `baseUrl` (the local
 * server) instead of the in-cluster Service. `urlFor` may redirect single
 * entries (e.g. to a closed port, to make them unreachable).
 */
/**
 * Where the admission objects come from: a kustomize directory of deploy/, or
 * the Helm chart rendered with its defaults as release `sre-quero` in
 * namespace sre-quero (the names of deploy/base; test/unit/helm-chart.test.ts
 * holds the two equal, this runs the chart's own objects).
 */
export type InstallSource = { kustomize: string } | 'helm';

export async function installObjects(cp: ControlPlane, source: InstallSource): Promise<Json[]> {
  if (source !== 'helm') return kustomize(cp, `${repoRoot}${source.kustomize}`);
  const rendered = await runCaptured(helmPath(), ['template', 'sre-quero', `${repoRoot}deploy/helm/sre-quero`, '--namespace', 'sre-quero'], { timeoutMs: 60_000 });
  if (rendered.status !== 0) throw new Error(`helm template deploy/helm/sre-quero failed: ${rendered.stderr}`);
  return parseAllDocuments(rendered.stdout).map((doc) => doc.toJS() as Json).filter(Boolean);
}

export async function webhookConfigurations(
  cp: ControlPlane,
  baseUrl: string,
  ca: string,
  urlFor: (entry: string, path: string) => string = (_e, path) => `${baseUrl}${path}`,
  source: InstallSource = { kustomize: 'deploy/base' },
): Promise<Json[]> {
  return (await installObjects(cp, source))
    .filter((object) => object.kind in WEBHOOK_KINDS)
    .map((object) => ({
      ...object,
      webhooks: object.webhooks.map((entry: Json) => {
        const { service, ...clientConfig } = entry.clientConfig;
        return { ...entry, clientConfig: { ...clientConfig, url: urlFor(entry.name, service.path), caBundle: Buffer.from(ca).toString('base64') } };
      }),
    }));
}

/** Creates or replaces the configurations. */
export async function applyWebhookConfigurations(cp: ControlPlane, configurations: Json[]): Promise<void> {
  for (const configuration of configurations) {
    const collection = WEBHOOK_KINDS[configuration.kind as string] as string;
    const existing = await cp.api('GET', `${collection}/${configuration.metadata.name}`);
    const reply =
      existing.status === 200
        ? await cp.api('PUT', `${collection}/${configuration.metadata.name}`, {
            ...configuration,
            metadata: { ...configuration.metadata, resourceVersion: existing.body.metadata.resourceVersion },
          })
        : await cp.api('POST', collection, configuration);
    if (reply.status !== 200 && reply.status !== 201) throw new Error(`applying ${configuration.kind}: ${reply.status} ${JSON.stringify(reply.body)}`);
  }
}

export function pod(name: string, annotations: Record<string, string> = {}, extra: Json = {}): Json {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels: { app: name }, annotations },
    spec: { containers: [{ name: 'app', image: 'example.com/app:1.0' }], ...extra },
  };
}

export const createPod = (cp: ControlPlane, namespace: string, body: Json) => cp.api('POST', `/api/v1/namespaces/${namespace}/pods`, body);

export const hasSidecar = (stored: Json): boolean => stored.spec.containers.some((c: Json) => c.name === 'promtail');

/**
 * Polls until the API server calls the webhook (its informer needs a moment
 * after a configuration changes), by creating throw-away annotated pods.
 */
export async function waitUntilInjecting(cp: ControlPlane, namespace: string, expectSidecar = true, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; Date.now() < deadline; attempt++) {
    const name = `probe-${Date.now()}-${attempt}`;
    const reply = await createPod(cp, namespace, pod(name, { 'logging.sre-quero/sidecar': 'true' }));
    if (reply.status === 201) {
      await cp.api('DELETE', `/api/v1/namespaces/${namespace}/pods/${name}?gracePeriodSeconds=0`);
      if (hasSidecar(reply.body) === expectSidecar) return;
    }
    await sleep(250);
  }
  throw new Error(`the API server did not ${expectSidecar ? 'start' : 'stop'} calling the webhook within ${timeoutMs} ms`);
}

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000, intervalMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value !== undefined) return value;
    await sleep(intervalMs);
  }
  throw new Error(`timed out waiting for ${what}`);
}

