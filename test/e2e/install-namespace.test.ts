import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { leftovers } from '../helpers/example-namespace.js';
import type { Json } from '../helpers/reviews.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitFor } from './harness.js';
import { namespaceFor, nodeClusterOrSkip } from './node-harness.js';
import { applySecondInstall, injectedWith, removeSecondInstall, rendered, reviews, writeSecondInstall } from './second-install.js';

// sre-quero installed into another namespace with kustomize, the way
// deploy/README.md ("Another namespace") says: deploy/overlays/example-namespace
// over overlays/self-signed, `sre-quero certs --namespace`, applied with
// kubectl. It runs next to the suite's install (second-install.ts: prefixed
// names, webhooks scoped to this file's namespace label, reconciler off), and
// must work: the API server reaches its webhook through the Service in the
// new namespace, over TLS, with the certificate made for that name. Nothing it
// stores may still name sre-quero as a namespace.

const PREFIX = 'e2e-ns-';
const NAMESPACE = 'e2e-ns-system';
const SCOPE_LABEL = 'e2e.sre-quero.io/install-namespace';
const LOG_PATH = '/var/log/e2e-ns';

const cluster = nodeClusterOrSkip();

if (cluster !== undefined) {
  const { api } = cluster;
  t.setTimeout(420_000);
  const install = writeSecondInstall(tempDir('install-namespace'), { prefix: PREFIX, namespace: NAMESPACE, scopeLabel: SCOPE_LABEL, scopeValue: 'member', logPath: LOG_PATH });
  const get = async (path: string): Promise<Json | undefined> => {
    const reply = await api('GET', path);
    return reply.status === 200 ? (reply.body as Json) : undefined;
  };

  // A killed run may have left it: start clean, end clean.
  await removeSecondInstall(cluster, install);
  await waitFor(`namespace ${NAMESPACE} gone`, async () => ((await get(`/api/v1/namespaces/${NAMESPACE}`)) === undefined ? true : undefined), 120_000, 1000);
  t.teardown(() => removeSecondInstall(cluster, install));
  const apps = await namespaceFor(cluster, 'e2e-ns-apps', { [SCOPE_LABEL]: 'member' });

  t.test(`kubectl apply -k: the install runs in ${NAMESPACE}, and what it stores follows the namespace`, async (t) => {
    await applySecondInstall(cluster, install);
    const ns = await get(`/api/v1/namespaces/${NAMESPACE}`);
    t.equal(ns?.metadata.labels['logging.sre-quero/injection'], 'disabled', 'the Namespace the example makes, labelled as deploy/base’s');
    t.equal((await get(`/apis/apps/v1/namespaces/${NAMESPACE}/deployments/${install.fullname}`))?.status?.readyReplicas, 1, 'its webhook is Ready');

    // Every object as the API server stored it, read back.
    const stored: Json[] = [];
    for (const object of await rendered(cluster, install)) {
      const { kind, metadata } = object;
      const kinds = (await cluster.kubectl(['get', kind, metadata.name, ...(kind === 'Namespace' || !metadata.namespace || /Cluster|Webhook|AdmissionPolicy/.test(kind) ? [] : ['-n', metadata.namespace]), '-o', 'json'])).stdout;
      t.ok(kinds, `${kind} ${metadata.name} stored`);
      if (kinds) stored.push(JSON.parse(kinds) as Json);
    }
    t.strictSame(
      leftovers(stored.map((o) => ({ ...o, metadata: { ...o.metadata, managedFields: undefined, annotations: { ...o.metadata.annotations, 'kubectl.kubernetes.io/last-applied-configuration': undefined } } })), 'sre-quero'),
      [],
      'nothing stored names sre-quero as a namespace',
    );
    const mutating = stored.find((o) => o.kind === 'MutatingWebhookConfiguration') as Json;
    for (const webhook of mutating.webhooks as Json[]) {
      t.strictSame(webhook.clientConfig.service, { namespace: NAMESPACE, name: install.fullname, path: webhook.clientConfig.service.path, port: 443 }, `${webhook.name}: calls the Service in ${NAMESPACE}`);
      t.strictSame(
        (webhook.namespaceSelector.matchExpressions as Json[]).find((e) => e.key === 'kubernetes.io/metadata.name')?.values,
        ['kube-system', NAMESPACE],
        `${webhook.name}: never sends pods of ${NAMESPACE}`,
      );
    }
    for (const binding of stored.filter((o) => o.kind === 'RoleBinding' || o.kind === 'ClusterRoleBinding')) {
      t.strictSame(binding.subjects, [{ kind: 'ServiceAccount', name: install.fullname, namespace: NAMESPACE }], `${binding.kind} ${binding.metadata.name}: its ServiceAccount`);
    }
    const secret = stored.find((o) => o.kind === 'Secret') as Json;
    const serving = new X509Certificate(Buffer.from(secret.data['tls.crt'], 'base64'));
    t.match(serving.subjectAltName, `DNS:${install.fullname}.${NAMESPACE}.svc`, 'the certificate names the Service there');
    t.ok(mutating.webhooks.every((w: Json) => w.clientConfig.caBundle === secret.data['ca.crt']), 'every entry trusts its CA');
  });

  t.test('a pod is injected through it: the API server reached it over TLS in the new namespace', async (t) => {
    const injected = await injectedWith(cluster, apps, LOG_PATH);
    t.ok(injected, `injected with this install's settings (logPath ${LOG_PATH})`);
    const name = 'through-e2e-ns';
    const created = await api('POST', `/api/v1/namespaces/${apps}/pods`, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, annotations: { 'logging.sre-quero/sidecar': 'true' } },
      spec: { nodeName: 'no-such-node', containers: [{ name: 'app', image: 'example.com/app:1.0' }] },
    });
    t.equal(created.status, 201);
    t.match(JSON.parse(created.body.metadata.annotations['logging.sre-quero/status']), { logPath: LOG_PATH });
    const line = await waitFor('the review in its webhook’s log', async () => (await reviews(cluster, install)).find((l) => l.namespace === apps && l.pod === name));
    t.match(line, { mode: 'annotated', decision: 'injected' }, `the webhook in ${NAMESPACE} answered`);
    t.equal((await api('GET', `/apis/coordination.k8s.io/v1/namespaces/${NAMESPACE}/leases`)).body.items.length, 0, 'reconciler off: no Lease');
  });

  t.test('the suite’s install is untouched and still injects elsewhere', async (t) => {
    const plain = await namespaceFor(cluster, 'e2e-ns-other');
    const injected = await injectedWith(cluster, plain, '/var/log/app');
    t.ok(injected, 'a namespace without the label: the suite’s install injects, with its own settings');
    const suite = (await api('GET', '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/sre-quero')).body as Json;
    t.ok(suite.webhooks.every((w: Json) => w.clientConfig.service.namespace === 'sre-quero' && w.clientConfig.service.name === 'sre-quero'), 'its configuration still calls sre-quero/sre-quero');
  });
}
