import { cpSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { stringify } from 'yaml';
import { runCerts } from '../../src/certs-command.js';
import { MUTATING_WEBHOOKS, VALIDATING_WEBHOOKS } from '../../src/webhook-contract.js';
import type { Identity } from '../cluster/control-plane.js';
import type { Json } from '../helpers/reviews.js';
import { controlPlaneOrSkip, kustomize, repoRoot, waitFor } from './harness.js';
import { tempDir } from '../helpers/temp-dir.js';

// deploy/ as a platform team applies it, against the real API server; and the
// webhook's ServiceAccount acting with exactly the RBAC deploy/ grants.

const serviceAccount: Identity = {
  user: 'system:serviceaccount:sre-quero:sre-quero',
  token: `sa-${process.pid}-${Date.now()}`,
  groups: ['system:serviceaccounts', 'system:serviceaccounts:sre-quero', 'system:authenticated'],
};
const cp = await controlPlaneOrSkip({ identities: [serviceAccount] });

const toYaml = (objects: Json[]) => objects.map((object) => stringify(object)).join('---\n');

/** Validates each object against the current upstream OpenAPI schema (kubernetes-models). */
async function schemaProblems(objects: Json[]): Promise<string[]> {
  const problems: string[] = [];
  for (const object of objects) {
    const [group, version] = object.apiVersion.includes('/') ? object.apiVersion.split('/') : [undefined, object.apiVersion];
    const module = `kubernetes-models/${group ?? ''}${group ? '/' : ''}${version}/${object.kind}`;
    let Model: new (data: Json) => { validate(): void };
    try {
      Model = (await import(module))[object.kind];
    } catch {
      continue; // not a built-in kind (e.g. cert-manager's)
    }
    try {
      new Model(object).validate();
    } catch (error) {
      problems.push(`${object.kind}/${object.metadata.name}: ${(error as Error).message}`);
    }
  }
  return problems;
}

if (cp !== undefined) {
  const workdir = tempDir('deploy');
  cpSync(`${repoRoot}deploy`, join(workdir, 'deploy'), { recursive: true });
  const base = await kustomize(cp, join(workdir, 'deploy/base'));

  t.test('deploy/base renders the promised objects, valid against the current upstream schema', async (t) => {
    const kinds = base.map((object) => `${object.kind}/${object.metadata.name}`).sort();
    t.same(kinds, [
      'ClusterRole/sre-quero-reconciler',
      'ClusterRoleBinding/sre-quero-reconciler',
      'ConfigMap/sre-quero-promtail-template',
      'ConfigMap/sre-quero-settings',
      'Deployment/sre-quero',
      'MutatingWebhookConfiguration/sre-quero',
      'Namespace/sre-quero',
      'PodDisruptionBudget/sre-quero',
      'Role/sre-quero',
      'RoleBinding/sre-quero',
      'Service/sre-quero',
      'ServiceAccount/sre-quero',
      'ValidatingAdmissionPolicy/sre-quero-enforced-logging',
      'ValidatingAdmissionPolicyBinding/sre-quero-enforced-logging',
    ]);
    t.same(await schemaProblems(base), []);

    const deployment = base.find((object) => object.kind === 'Deployment') as Json;
    t.ok(deployment.spec.replicas >= 2, '2+ replicas');
    const container = deployment.spec.template.spec.containers[0];
    t.match(container.securityContext, { readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
    t.equal(deployment.spec.template.spec.securityContext.runAsNonRoot, true);
    t.ok(container.readinessProbe && container.livenessProbe && container.resources.limits, 'probes and resources');
    t.ok(deployment.spec.template.spec.affinity.podAntiAffinity, 'anti-affinity');

    const mutating = base.find((object) => object.kind === 'MutatingWebhookConfiguration') as Json;
    // The webhook check of enforced namespaces ships only for clusters before 1.30 (deploy/legacy-validator).
    const validating = (await kustomize(cp, join(workdir, 'deploy/legacy-validator'))).find((object) => object.kind === 'ValidatingWebhookConfiguration') as Json;
    t.same(mutating.webhooks.map((w: Json) => [w.name, w.clientConfig.service.path]), MUTATING_WEBHOOKS.map((w) => [w.name, w.path]));
    t.same(validating.webhooks.map((w: Json) => [w.name, w.clientConfig.service.path]), VALIDATING_WEBHOOKS.map((w) => [w.name, w.path]));
    const binding = base.find((object) => object.kind === 'ValidatingAdmissionPolicyBinding') as Json;
    t.same(binding.spec.validationActions, ['Deny']);
    t.same(binding.spec.matchResources.namespaceSelector, validating.webhooks[0].namespaceSelector, 'the policy binds to the namespaces the webhook check selects');
    t.equal((base.find((object) => object.kind === 'ValidatingAdmissionPolicy') as Json).spec.failurePolicy, 'Fail');
    for (const entry of [...mutating.webhooks, ...validating.webhooks]) {
      t.equal(entry.sideEffects, 'None', `${entry.name}: sideEffects`);
      t.ok(Number.isInteger(entry.timeoutSeconds) && entry.timeoutSeconds <= 10, `${entry.name}: explicit timeoutSeconds`);
      const excluded = entry.namespaceSelector.matchExpressions.find((e: Json) => e.key === 'kubernetes.io/metadata.name');
      t.same(excluded, { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', 'sre-quero'] }, `${entry.name}: excludes kube-system and its own namespace`);
    }
    for (const entry of mutating.webhooks) {
      t.equal(entry.reinvocationPolicy, 'IfNeeded');
      t.equal(entry.failurePolicy, 'Ignore', `${entry.name}: an injector outage never blocks pod creation`);
    }
    t.equal(validating.webhooks[0].failurePolicy, 'Fail', 'the enforcement check fails closed');
  });

  t.test('deploy/base applies to the real API server without a rejection', async (t) => {
    const applied = await cp.kubectl(['apply', '-f', '-'], { input: toYaml(base) });
    t.equal(applied.status, 0, 'kubectl apply accepted', { stderr: applied.stderr });
    for (const [path, name] of [
      ['/api/v1/namespaces/sre-quero/serviceaccounts/sre-quero', 'ServiceAccount'],
      ['/apis/apps/v1/namespaces/sre-quero/deployments/sre-quero', 'Deployment'],
      ['/api/v1/namespaces/sre-quero/services/sre-quero', 'Service'],
      ['/apis/policy/v1/namespaces/sre-quero/poddisruptionbudgets/sre-quero', 'PodDisruptionBudget'],
      ['/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/sre-quero', 'MutatingWebhookConfiguration'],
      ['/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies/sre-quero-enforced-logging', 'ValidatingAdmissionPolicy'],
      ['/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings/sre-quero-enforced-logging', 'ValidatingAdmissionPolicyBinding'],
    ]) {
      t.equal((await cp.api('GET', path as string)).status, 200, `${name} is stored`);
    }
    // The controller-manager turns the Deployment into pods: its template is valid.
    await waitFor('the webhook pods', async () => {
      const pods = await cp.api('GET', '/api/v1/namespaces/sre-quero/pods');
      return pods.body.items.length >= 2 ? true : undefined;
    });
  });

  t.test('overlay self-signed: the certs command feeds the Secret and every caBundle', async (t) => {
    const generated = join(workdir, 'deploy/overlays/self-signed/generated');
    runCerts(['--out', generated]);
    const objects = await kustomize(cp, join(workdir, 'deploy/overlays/self-signed'));
    const applied = await cp.kubectl(['apply', '-f', '-'], { input: toYaml(objects) });
    t.equal(applied.status, 0, 'kubectl apply accepted', { stderr: applied.stderr });
    const caBundle = Buffer.from(readFileSync(join(generated, 'ca.crt'))).toString('base64');
    const mutating = (await cp.api('GET', '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/sre-quero')).body;
    t.equal(mutating.webhooks.length, 3);
    for (const entry of mutating.webhooks) {
      t.equal(entry.clientConfig.caBundle, caBundle, `${entry.name}: caBundle`);
      t.equal(entry.clientConfig.service.name, 'sre-quero', `${entry.name}: the rest of the entry is kept`);
    }
    const secret = (await cp.api('GET', '/api/v1/namespaces/sre-quero/secrets/sre-quero-tls')).body;
    t.equal(secret.type, 'kubernetes.io/tls');
    const { X509Certificate } = await import('node:crypto');
    const served = new X509Certificate(Buffer.from(secret.data['tls.crt'], 'base64'));
    t.match(served.subjectAltName, /DNS:sre-quero\.sre-quero\.svc/);
    t.ok(served.checkIssued(new X509Certificate(readFileSync(join(generated, 'ca.crt')))), 'signed by the CA in caBundle');
  });

  t.test('overlay legacy-self-signed (clusters before 1.30): the webhook check instead of the policy, every caBundle fed', async (t) => {
    const generated = join(workdir, 'deploy/overlays/legacy-self-signed/generated');
    runCerts(['--out', generated]);
    const objects = await kustomize(cp, join(workdir, 'deploy/overlays/legacy-self-signed'));
    t.notOk(objects.some((object) => object.kind.startsWith('ValidatingAdmissionPolicy')), 'no policy kinds, which such clusters do not know');
    const caBundle = Buffer.from(readFileSync(join(generated, 'ca.crt'))).toString('base64');
    const configurations = objects.filter((object) => /WebhookConfiguration$/.test(object.kind));
    t.same(configurations.map((c) => c.kind).sort(), ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration']);
    for (const entry of configurations.flatMap((c) => c.webhooks as Json[])) t.equal(entry.clientConfig.caBundle, caBundle, `${entry.name}: caBundle`);
    const dryRun = await cp.kubectl(['apply', '--dry-run=server', '-f', '-'], { input: toYaml(objects) });
    t.equal(dryRun.status, 0, 'server-side dry run accepted', { stderr: dryRun.stderr });
  });

  t.test('overlay cert-manager: accepted by a server-side dry run with cert-manager CRDs present', async (t) => {
    // cert-manager itself is not installed; stand-in CRDs let the API server
    // accept its kinds, so the dry run checks everything else for real.
    const crd = (plural: string, kind: string) => ({
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: `${plural}.cert-manager.io` },
      spec: {
        group: 'cert-manager.io',
        scope: 'Namespaced',
        names: { plural, singular: kind.toLowerCase(), kind, listKind: `${kind}List` },
        versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } }],
      },
    });
    for (const [plural, kind] of [['certificates', 'Certificate'], ['issuers', 'Issuer']] as const) {
      const created = await cp.api('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd(plural, kind));
      t.equal(created.status, 201);
    }
    const objects = await kustomize(cp, join(workdir, 'deploy/overlays/cert-manager'));
    const certificates = objects.filter((object) => object.kind === 'Certificate');
    t.ok(certificates.some((c) => c.spec.secretName === 'sre-quero-tls' && c.spec.dnsNames.includes('sre-quero.sre-quero.svc')), 'serving Certificate');
    for (const configuration of objects.filter((object) => /WebhookConfiguration$/.test(object.kind))) {
      t.equal(configuration.metadata.annotations['cert-manager.io/inject-ca-from'], 'sre-quero/sre-quero', `${configuration.kind}: CA injection`);
    }
    const dryRun = await waitFor('the CRDs to be served', async () => {
      const result = await cp.kubectl(['apply', '--dry-run=server', '-f', '-'], { input: toYaml(objects) });
      return result.status === 0 || !/no matches for kind/.test(result.stderr) ? result : undefined;
    });
    t.equal(dryRun.status, 0, 'server-side dry run accepted', { stderr: dryRun.stderr });
    t.match(dryRun.stdout, /certificate\.cert-manager\.io\/sre-quero (created|configured) \(server dry run\)/);
  });

  t.test("RBAC: the ServiceAccount can do what sre-quero needs, and no more", async (t) => {
    const as = { as: serviceAccount };
    // The real thing: the reconciler, authenticated as the ServiceAccount, does its whole job.
    const { KubeConfig } = await import('@kubernetes/client-node');
    const { runReconciler } = await import('../../src/reconciler/run.js');
    const { createLogger } = await import('../../src/logger.js');
    const { createMetrics } = await import('../../src/metrics.js');
    const { DEFAULT_SETTINGS } = await import('../../src/injection/index.js');
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'test', server: cp.server, caFile: cp.caFile }],
      users: [{ name: 'sa', token: serviceAccount.token }],
      contexts: [{ name: 'sa', cluster: 'test', user: 'sa' }],
      currentContext: 'sa',
    });
    await cp.createNamespace('rbac-app');
    const created = await Promise.all([
      cp.api('POST', '/api/v1/namespaces/rbac-app/services', { metadata: { name: 'web' }, spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80 }] } }),
      cp.api('POST', '/api/v1/namespaces/rbac-app/services', { metadata: { name: 'clash' }, spec: { selector: { app: 'web' }, ports: [{ name: 'metrics', port: 9080 }] } }),
      cp.api('POST', '/api/v1/namespaces/rbac-app/pods', {
        metadata: { name: 'web-1', labels: { app: 'web', 'logging.sre-quero/injected': 'true' }, annotations: { 'logging.sre-quero/status': '{"metricsPort":9080,"configMap":"promtail-sidecar-config"}' } },
        spec: { containers: [{ name: 'web', image: 'example/web:1' }] },
      }),
    ]);
    t.same(created.map((reply) => reply.status), [201, 201, 201]);
    const metrics = createMetrics();
    const running = runReconciler({ kc, logger: createLogger('silent'), metrics, settings: DEFAULT_SETTINGS, namespace: 'sre-quero', templateConfigMap: 'sre-quero-promtail-template', leaseDurationMs: 3000, identity: 'rbac-test' });
    t.teardown(() => running.stop());
    await waitFor('the port, the ConfigMap and the event, made as the ServiceAccount', async () => {
      const [svc, cm, events] = await Promise.all([
        cp.api('GET', '/api/v1/namespaces/rbac-app/services/web'),
        cp.api('GET', '/api/v1/namespaces/rbac-app/configmaps/promtail-sidecar-config'),
        cp.api('GET', '/api/v1/namespaces/rbac-app/events?fieldSelector=involvedObject.name%3Dclash'),
      ]);
      const ported = (svc.body.spec.ports as Json[]).some((p) => p.name === 'promtail-http');
      return ported && cm.status === 200 && events.body.items.length > 0 ? true : undefined;
    });
    t.ok(running.isLeader(), 'holds the lease');
    t.equal((await metrics.registry.getSingleMetricAsString('sre_quero_reconciles_total')).match(/result="error"} [1-9]/), null, 'no reconcile failed for lack of permission');

    // Node versions for sidecar mode auto, listed and watched as the ServiceAccount.
    const { watchNodeVersions } = await import('../../src/cluster/node-versions.js');
    const nodes = watchNodeVersions(kc, createLogger('silent'));
    t.teardown(() => nodes.stop());
    t.equal((await cp.api('POST', '/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'rbac-node' } })).status, 201);
    const statusPatch = await cp.api('PATCH', '/api/v1/nodes/rbac-node/status', { status: { nodeInfo: { kubeletVersion: 'v1.31.4' } } }, { contentType: 'application/merge-patch+json' });
    t.equal(statusPatch.status, 200, 'the node reports its kubelet', { body: statusPatch.body });
    // Created without a status, the node first shows an empty version; then the one it reports.
    const seen = await waitFor('the node version, seen through the watch', async () => (nodes.facts()?.kubeletVersions.get('rbac-node') === 'v1.31.4' ? true : undefined));
    t.ok(seen, 'v1.31.4 seen');

    // The escaped-pods report, as the ServiceAccount: the labelled namespaces
    // listed, a running pod without the sidecar kept, its Deployment found
    // through its ReplicaSet (get replicasets), an Event on the pod.
    await cp.createNamespace('rbac-escaped', { 'logging.sre-quero/injection': 'enabled' });
    const deployment = { metadata: { name: 'web' }, spec: { replicas: 1, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'example/web:1' }] } } } };
    t.equal((await cp.api('POST', '/apis/apps/v1/namespaces/rbac-escaped/deployments', deployment)).status, 201);
    // No scheduler, no kubelet: bound to the Node object and set running by hand.
    const escaped = await waitFor("the Deployment's pod", async () => ((await cp.api('GET', '/api/v1/namespaces/rbac-escaped/pods?labelSelector=app%3Dweb')).body.items as Json[])[0]);
    const binding = { apiVersion: 'v1', kind: 'Binding', metadata: { name: escaped.metadata.name }, target: { apiVersion: 'v1', kind: 'Node', name: 'rbac-node' } };
    t.equal((await cp.api('POST', `/api/v1/namespaces/rbac-escaped/pods/${escaped.metadata.name}/binding`, binding)).status, 201, 'bound');
    const runningPod = await cp.api('PATCH', `/api/v1/namespaces/rbac-escaped/pods/${escaped.metadata.name}/status`, { status: { phase: 'Running' } }, { contentType: 'application/merge-patch+json' });
    t.equal(runningPod.status, 200, 'running', { body: runningPod.body });
    const reported = await waitFor('the escaped-pod Event, made as the ServiceAccount', async () =>
      ((await cp.api('GET', `/api/v1/namespaces/rbac-escaped/events?fieldSelector=${encodeURIComponent('reason=LoggingSidecarMissing')}`)).body.items as Json[])[0],
    );
    t.match(reported, { involvedObject: { kind: 'Pod', name: escaped.metadata.name }, message: /kubectl rollout restart deployment\/web -n rbac-escaped/ }, 'the Deployment, found through the ReplicaSet');
    t.match(await metrics.registry.getSingleMetricAsString('sre_quero_escaped_pods'), /sre_quero_escaped_pods\{namespace="rbac-escaped",reason="missing_sidecar"\} 1/);
    for (const path of ['/apis/apps/v1/namespaces/rbac-escaped/replicasets/none', '/apis/batch/v1/namespaces/rbac-escaped/jobs/none']) {
      t.equal((await cp.api('GET', path, undefined, as)).status, 404, `GET ${path}: allowed (not found)`);
    }

    const forbidden: [string, string, unknown?][] = [
      ['GET', '/api/v1/namespaces/sre-quero/secrets'],
      ['GET', '/api/v1/namespaces/sre-quero/secrets/sre-quero-tls'],
      ['GET', '/api/v1/namespaces/rbac-app/pods/web-1'],
      ['DELETE', '/api/v1/namespaces/rbac-app/pods/web-1'],
      ['POST', '/api/v1/namespaces/default/pods', { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'x' }, spec: { containers: [{ name: 'x', image: 'x' }] } }],
      ['DELETE', '/api/v1/namespaces/rbac-app/services/web'],
      ['DELETE', '/api/v1/namespaces/rbac-app/configmaps/promtail-sidecar-config'],
      ['DELETE', '/apis/apps/v1/namespaces/sre-quero/deployments/sre-quero'],
      ['GET', '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations'],
      ['GET', '/apis/coordination.k8s.io/v1/namespaces/sre-quero/leases/someone-elses'],
      ['POST', '/apis/coordination.k8s.io/v1/namespaces/default/leases', { metadata: { name: 'x' }, spec: {} }],
      ['GET', '/api/v1/nodes/rbac-node'],
      ['DELETE', '/api/v1/nodes/rbac-node'],
      ['PUT', '/api/v1/nodes/rbac-node', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'rbac-node' } }],
      ['GET', '/api/v1/namespaces/rbac-app'],
      ['GET', '/apis/apps/v1/namespaces/rbac-escaped/replicasets'],
      ['GET', '/apis/apps/v1/namespaces/rbac-escaped/deployments/web'],
      ['DELETE', '/apis/apps/v1/namespaces/rbac-escaped/replicasets/none'],
      ['DELETE', `/api/v1/namespaces/rbac-escaped/events/${reported.metadata.name}`],
      ['PUT', `/api/v1/namespaces/rbac-escaped/events/${reported.metadata.name}`, reported],
    ];
    for (const [method, path, body] of forbidden) {
      t.equal((await cp.api(method, path, body, as)).status, 403, `${method} ${path} is forbidden`);
    }
  });
}
