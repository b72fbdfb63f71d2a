import { readFileSync } from 'node:fs';
import t from 'tap';
import { parse } from 'yaml';
import { answerEnforcement, answerReview } from '../../src/admission/handle.js';
import { DEFAULT_SETTINGS, injectPod } from '../../src/injection/index.js';
import { loadSettings } from '../../src/config.js';
import { type Json } from '../helpers/reviews.js';
import {
  applyWebhookConfigurations,
  controlPlaneOrSkip,
  createPod,
  hasSidecar,
  installObjects,
  type InstallSource,
  pod,
  repoRoot,
  startWebhook,
  waitFor,
  waitUntilInjecting,
  webhookConfigurations,
} from './harness.js';

// The webhook as a real cluster sees it: kube-apiserver calls it over TLS
// through the webhook configurations and the enforcement policy of one
// install: deploy/base (injection.test.ts) or the Helm chart
// (injection-helm.test.ts). The same tests for both, so both installs are
// proven on a real API server, not only rendered alike.

const SIDECAR = 'logging.sre-quero/sidecar';
const INJECTION = 'logging.sre-quero/injection';

export async function injectionSuite(source: InstallSource): Promise<void> {
  const cp = await controlPlaneOrSkip();
  if (cp === undefined) return;
  const webhook = await startWebhook();
  const configurations = await webhookConfigurations(cp, webhook.url, webhook.ca, undefined, source);
  await applyWebhookConfigurations(cp, configurations);
  /** What the webhook check (answerEnforcement) says of `pod`: the policy and the legacy webhook must say the same. */
  const enforcementMessage = (namespace: string, pod: Json) =>
    JSON.parse(answerEnforcement({ apiVersion: 'admission.k8s.io/v1', request: { uid: 'x', namespace, operation: 'CREATE', pod } } as never).answer).response.status?.message;
  // Enforcement without a webhook: the install's ValidatingAdmissionPolicy and its binding.
  const policy = (await installObjects(cp, source)).filter((object) => object.kind.startsWith('ValidatingAdmissionPolicy'));
  const appliedPolicy = await cp.kubectl(['apply', '-f', '-'], { input: policy.map((object) => JSON.stringify(object)).join('\n') });
  if (appliedPolicy.status !== 0) throw new Error(`applying the policy: ${appliedPolicy.stderr}`);

  await cp.createNamespace('shop');
  await cp.createNamespace('sre-quero', { [INJECTION]: 'disabled' });
  await cp.createNamespace('team-enabled', { [INJECTION]: 'enabled' });
  await cp.createNamespace('team-enforced', { [INJECTION]: 'enforced' });
  await cp.createNamespace('team-disabled', { [INJECTION]: 'disabled' });
  await waitUntilInjecting(cp, 'shop');

  t.test('a Deployment annotated on its template: the ReplicaSet controller creates injected pods', async (t) => {
    const template = readFileSync(`${repoRoot}test/fixtures/golden/deployment-annotated.yaml`, 'utf8');
    const deployment = parse(template) as Json;
    const created = await cp.api('POST', '/apis/apps/v1/namespaces/shop/deployments', deployment);
    t.equal(created.status, 201, 'Deployment created', { body: created.body });
    const pods = await waitFor('3 pods from the ReplicaSet', async () => {
      const list = await cp.api('GET', '/api/v1/namespaces/shop/pods?labelSelector=app.kubernetes.io/name%3Dshop-frontend');
      return list.body.items.length === 3 ? (list.body.items as Json[]) : undefined;
    });
    for (const stored of pods) {
      t.match(stored.metadata.generateName, /^shop-frontend-[a-z0-9]+-$/, 'made by the ReplicaSet controller');
      t.same(stored.spec.containers.map((c: Json) => c.name), ['web', 'metrics-exporter', 'promtail']);
      t.same(stored.spec.volumes.map((v: Json) => v.name), ['cache', 'shared-logs', 'promtail-positions', 'promtail-config']);
      for (const app of stored.spec.containers.slice(0, 2)) {
        t.ok(app.volumeMounts.some((m: Json) => m.name === 'shared-logs' && m.mountPath === '/var/log/app'), `${app.name} mounts the log folder`);
      }
      const sidecar = stored.spec.containers[2];
      t.same(sidecar.ports, [{ name: 'promtail-http', containerPort: 9080, protocol: 'TCP' }]);
      t.same(stored.spec.volumes[3], { name: 'promtail-config', configMap: { name: 'promtail-sidecar-config', defaultMode: 420 } });
      t.same(JSON.parse(stored.metadata.annotations['logging.sre-quero/status']).containers, ['web', 'metrics-exporter']);
      t.equal(stored.metadata.labels['logging.sre-quero/injected'], 'true');
    }
  });

  t.test("the recipe's bare Pod is stored exactly as the recipe's result plus our additions", async (t) => {
    const expected = parse(readFileSync(`${repoRoot}test/fixtures/golden/pod-simple-webapp.yaml.injected`, 'utf8')) as Json;
    const input = parse(readFileSync(`${repoRoot}test/fixtures/golden/pod-simple-webapp.yaml`, 'utf8')) as Json;
    const created = await createPod(cp, 'shop', input);
    t.equal(created.status, 201);
    const stored = (await cp.api('GET', '/api/v1/namespaces/shop/pods/simple-webapp')).body;
    // Everything the offline inject produces is in the stored pod (the API server adds only defaults)...
    t.has(stored.metadata, { labels: expected.metadata.labels, annotations: expected.metadata.annotations });
    t.has(stored.spec.containers, expected.spec.containers);
    t.has(stored.spec.volumes.map((v: Json) => ({ ...v, configMap: v.configMap && { name: v.configMap.name } })), expected.spec.volumes);
    // ...and nothing else was added.
    t.same(stored.spec.containers.map((c: Json) => c.name), ['main-application', 'promtail']);
    t.same(stored.spec.volumes.map((v: Json) => v.name), ['shared-logs', 'promtail-positions', 'promtail-config']);
    t.same(Object.keys(stored.metadata.annotations).sort(), ['logging.sre-quero/sidecar', 'logging.sre-quero/status']);
  });

  t.test('namespace without the label: only annotated pods are injected', async (t) => {
    t.ok(hasSidecar((await createPod(cp, 'shop', pod('annotated', { [SIDECAR]: 'true' }))).body));
    t.notOk(hasSidecar((await createPod(cp, 'shop', pod('plain'))).body));
    t.notOk(hasSidecar((await createPod(cp, 'shop', pod('opted-out', { [SIDECAR]: 'false' }))).body));
  });

  t.test('annotated mode: the API server sends exactly the pods the webhook would do something with (matchConditions)', async (t) => {
    await cp.createNamespace('filtered');
    const settings = loadSettings(undefined);
    const corpus: [string, Record<string, string> | undefined][] = [
      ['no-annotations', undefined],
      ['empty-annotations', {}],
      ['other-annotations', { 'example.com/owner': 'team-a' }],
      ['other-keys-of-ours', { 'logging.sre-quero/log-path': '/var/log/../../etc', 'logging.sre-quero/job': 'x' }],
      ['opt-in', { [SIDECAR]: 'true' }],
      ['opt-out', { [SIDECAR]: 'false' }],
      ['invalid', { [SIDECAR]: 'yes' }],
      ['empty-value', { [SIDECAR]: '' }],
      ['prefix-lookalike', { 'logging.sre-quero/sidecars': 'true' }],
    ];
    for (const [name, annotations] of corpus) {
      const body = pod(name);
      if (annotations === undefined) delete body.metadata.annotations;
      else body.metadata.annotations = annotations;
      const before = webhook.reviews().length;
      const offline = answerReview({ apiVersion: 'admission.k8s.io/v1', request: { uid: name, namespace: 'filtered', operation: 'CREATE', pod: body } } as never, settings, 'annotated');
      const reply = await cp.api('POST', '/api/v1/namespaces/filtered/pods?dryRun=All', body);
      const sent = webhook.reviews().slice(before).some((line) => line.pod === name);
      const needed = offline.reason !== 'not_requested';
      t.equal(sent, needed, `${name}: ${needed ? 'sent' : 'not sent'} (the webhook's own answer: ${offline.verdict}, ${offline.reason})`);
      t.equal(reply.status, offline.verdict === 'refused' ? 400 : 201, `${name}: the API server's answer matches`);
    }
  });

  t.test('namespace labelled enabled: every pod is injected unless it opts out', async (t) => {
    t.ok(hasSidecar((await createPod(cp, 'team-enabled', pod('plain'))).body));
    const optedOut = await createPod(cp, 'team-enabled', pod('opted-out', { [SIDECAR]: 'false' }));
    t.equal(optedOut.status, 201);
    t.notOk(hasSidecar(optedOut.body));
  });

  t.test('disabled, kube-system and the webhook namespace: the webhook is never called', async (t) => {
    await cp.createNamespace('plain-team'); // a namespace that is called, to prove the review log works
    for (const namespace of ['team-disabled', 'kube-system', 'sre-quero']) {
      const reply = await createPod(cp, namespace, pod('asks-anyway', { [SIDECAR]: 'true' }));
      t.equal(reply.status, 201, `${namespace}: created`);
      t.notOk(hasSidecar(reply.body), `${namespace}: not injected`);
    }
    t.ok(hasSidecar((await createPod(cp, 'plain-team', pod('asks', { [SIDECAR]: 'true' }))).body));
    const called = new Set(webhook.reviewedNamespaces());
    t.ok(called.has('plain-team'), 'the review log sees other namespaces');
    for (const namespace of ['team-disabled', 'kube-system', 'sre-quero']) t.notOk(called.has(namespace), `${namespace}: no review arrived`);
  });

  t.test('namespace labelled enforced: opt-out is not honoured, and the API says so', async (t) => {
    const reply = await createPod(cp, 'team-enforced', pod('wants-out', { [SIDECAR]: 'false' }));
    t.equal(reply.status, 201);
    t.ok(hasSidecar(reply.body), 'injected despite the opt-out');
    t.match(reply.warnings, [/logging\.sre-quero\/sidecar: "false" is not honoured: this namespace enforces the logging sidecar/]);
    const viaKubectl = await cp.kubectl(['apply', '-n', 'team-enforced', '-f', '-'], { input: JSON.stringify(pod('wants-out-too', { [SIDECAR]: 'false' })) });
    t.equal(viaKubectl.status, 0);
    t.match(viaKubectl.stderr, /Warning: logging\.sre-quero\/sidecar: "false" is not honoured/, 'kubectl shows the warning');
  });

  t.test('a hostile annotation: kubectl shows an error naming it, and nothing is stored', async (t) => {
    const hostile = pod('hostile', { [SIDECAR]: 'true', 'logging.sre-quero/log-path': '/var/log/../../etc' });
    const result = await cp.kubectl(['apply', '-n', 'shop', '-f', '-'], { input: JSON.stringify(hostile) });
    t.not(result.status, 0);
    t.match(result.stderr, /admission webhook "annotated\.injector\.sre-quero\.io" denied the request: annotation logging\.sre-quero\/log-path: "\/var\/log\/\.\.\/\.\.\/etc" is not valid/);
    t.equal((await cp.api('GET', '/api/v1/namespaces/shop/pods/hostile')).status, 404, 'not stored');
  });

  t.test('every replica down: Ignore entries admit without the sidecar; in enforced namespaces the policy refuses, with no webhook in the path', async (t) => {
    const closed = 'https://127.0.0.1:1';
    await applyWebhookConfigurations(cp, await webhookConfigurations(cp, webhook.url, webhook.ca, (_entry, path) => `${closed}${path}`, source));
    await waitUntilInjecting(cp, 'shop', false);
    const admitted = await createPod(cp, 'shop', pod('during-outage', { [SIDECAR]: 'true' }));
    t.equal(admitted.status, 201, 'failurePolicy Ignore: the pod is admitted');
    t.notOk(hasSidecar(admitted.body), '...without the sidecar');

    const lacking = pod('during-outage');
    // A policy is active moments after it is created: wait for it with dry runs.
    await waitFor('the policy to be active', async () => ((await cp.api('POST', '/api/v1/namespaces/team-enforced/pods?dryRun=All', lacking)).status === 403 ? true : undefined));
    const refused = await createPod(cp, 'team-enforced', lacking);
    t.equal(refused.status, 403);
    const webhookMessage = enforcementMessage('team-enforced', lacking);
    t.equal(refused.body.message, `pods "during-outage" is forbidden: ValidatingAdmissionPolicy 'sre-quero-enforced-logging' with binding 'sre-quero-enforced-logging' denied request: ${webhookMessage}`, 'the policy says what the webhook check says');

    // Pods that carry the sidecar (injected offline, or before the outage) still start: enforcement without a webhook blocks only what it must.
    const injected = injectPod(lacking as never, DEFAULT_SETTINGS, 'enforced');
    const native = injectPod(lacking as never, { ...DEFAULT_SETTINGS, sidecarMode: 'native' }, 'enforced');
    t.equal((await createPod(cp, 'team-enforced', { ...(injected.kind === 'injected' ? injected.pod : {}), metadata: { ...(injected.kind === 'injected' ? injected.pod.metadata : {}), name: 'pre-injected' } })).status, 201, 'a pod injected beforehand is admitted');
    t.equal((await createPod(cp, 'team-enforced', { ...(native.kind === 'injected' ? native.pod : {}), metadata: { ...(native.kind === 'injected' ? native.pod.metadata : {}), name: 'pre-injected-native' } })).status, 201, 'the native sidecar counts too');
    const windows = pod('windows-pod');
    windows.spec.os = { name: 'windows' };
    t.equal((await createPod(cp, 'team-enforced', windows)).status, 201, 'a Windows pod, which the injector skips, passes');

    await applyWebhookConfigurations(cp, configurations);
    await waitUntilInjecting(cp, 'shop');
    t.ok(hasSidecar((await createPod(cp, 'team-enforced', pod('after-outage'))).body), 'back to normal');
  });

  // The chart needs Kubernetes 1.30 (kubeVersion): it ships no legacy validator.
  if (source === 'helm') return;
  t.test('clusters before 1.30 (deploy/legacy-validator): the webhook check refuses the same pods with the same message, and fails closed', async (t) => {
    const binding = '/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings/sre-quero-enforced-logging';
    const saved = (await cp.api('GET', binding)).body;
    t.equal((await cp.api('DELETE', binding)).status, 200, 'the policy unbound, as on a cluster without it');
    const legacy = await webhookConfigurations(cp, webhook.url, webhook.ca, undefined, { kustomize: 'deploy/legacy-validator' });
    const closed = 'https://127.0.0.1:1';
    const injectorsDown = await webhookConfigurations(cp, webhook.url, webhook.ca, (_entry, path) => `${closed}${path}`);
    await applyWebhookConfigurations(cp, [...injectorsDown, ...legacy]);
    await waitUntilInjecting(cp, 'shop', false);
    const lacking = pod(`legacy-${Date.now()}`);
    // The API server drops the binding moments after its deletion, and calls the new webhook moments after its creation:
    // dry runs until the refusal comes from the webhook.
    const refused = await waitFor('the webhook check to refuse, the policy gone', async () => {
      const reply = await cp.api('POST', '/api/v1/namespaces/team-enforced/pods?dryRun=All', lacking);
      return /admission webhook "enforced\.validator/.test(String(reply.body.message)) ? reply : undefined;
    });
    t.equal(refused.status, 403, 'the API server passes on the code the webhook chose');
    const webhookMessage = enforcementMessage('team-enforced', lacking);
    t.equal(refused.body.message, `admission webhook "enforced.validator.sre-quero.io" denied the request: ${webhookMessage}`, 'the message the policy gives too');

    // Everything unreachable: the webhook's Fail keeps enforced namespaces closed (to every pod, which the policy avoids).
    await applyWebhookConfigurations(cp, await webhookConfigurations(cp, webhook.url, webhook.ca, (_entry, path) => `${closed}${path}`, { kustomize: 'deploy/legacy-validator' }));
    const blocked = await waitFor('the webhook check to be unreachable', async () => {
      const reply = await createPod(cp, 'team-enforced', pod(`blocked-${Date.now()}`));
      return /failed calling webhook "enforced\.validator\.sre-quero\.io"/.test(String(reply.body.message)) ? reply : undefined;
    });
    t.equal(blocked.status, 500);

    t.equal((await cp.api('DELETE', '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/sre-quero')).status, 200);
    const { resourceVersion: _rv, uid: _uid, creationTimestamp: _ct, managedFields: _mf, generation: _g, ...metadata } = saved.metadata;
    t.equal((await cp.api('POST', '/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings', { ...saved, metadata })).status, 201, 'the policy bound again');
    await applyWebhookConfigurations(cp, configurations);
    await waitUntilInjecting(cp, 'shop');
  });
}
