import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import t from 'tap';
import { parse, parseAllDocuments } from 'yaml';
import { answerEnforcement, answerReview } from '../../src/admission/handle.js';
import { serviceDnsNames } from '../../src/certs.js';
import { DEFAULT_SETTINGS } from '../../src/injection/index.js';
import { DEFAULT_NAMESPACE } from '../../src/webhook-contract.js';
import { cacheRoot, ENABLE_HINT, findBinaries, isExecutable } from '../cluster/versions.js';
import { EXAMPLE_NAMESPACE, EXAMPLE_VARIANTS, leftovers, repoRoot, writeExample, type ExampleVariant } from '../helpers/example-namespace.js';
import type { Json } from '../helpers/reviews.js';
import { tempDir } from '../helpers/temp-dir.js';

// sre-quero installed into another namespace with kustomize: a user's
// `namespace:` on top of an overlay, plus deploy/overlays/example-namespace's
// patches. Rendered with the provisioned kubectl's kustomize (and with
// kustomize v2.0.3 when test/cluster/build/kustomize-v2.0.3.sh built it),
// every namespace-dependent field must follow the namespace: nothing may
// still say sre-quero but the names. And the server, wherever it runs, skips
// its own namespace and names it in the enforcement message.

const CLUSTER_SCOPED = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration', 'ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding']);
const KUSTOMIZE_V2 = join(cacheRoot(), 'kustomize-v2.0.3', 'kustomize');


const kubectl = findBinaries()?.kubectl;
if (kubectl === undefined) {
  t.fail(`kubectl kustomize needs the provisioned kubectl: ${ENABLE_HINT}`);
} else {
  const render = (dir: string, binary = kubectl): Json[] => {
    const result = binary === kubectl ? spawnSync(kubectl, ['kustomize', dir], { encoding: 'utf8', timeout: 60_000 }) : spawnSync(binary, ['build', dir], { encoding: 'utf8', timeout: 60_000 });
    if (result.status !== 0) throw new Error(`kustomize ${dir} failed: ${result.stderr}`);
    return parseAllDocuments(result.stdout).map((doc) => doc.toJS() as Json).filter(Boolean);
  };
  const all = (objects: Json[], kind: string): Json[] => objects.filter((o) => o.kind === kind);
  const one = (objects: Json[], kind: string): Json => {
    const [found] = all(objects, kind);
    if (found === undefined) throw new Error(`no ${kind} rendered`);
    return found;
  };
  const excluded = (selector: Json): unknown => selector.matchExpressions.find((e: Json) => e.key === 'kubernetes.io/metadata.name')?.values;
  const workdir = tempDir('install-namespace');
  const v2 = isExecutable(KUSTOMIZE_V2) ? KUSTOMIZE_V2 : undefined;
  if (v2 === undefined) t.comment(`kustomize v2.0.3 not built (bash test/cluster/build/kustomize-v2.0.3.sh): rendered with the provisioned kubectl only`);

  t.test('a bare `namespace:` override leaves the namespace in these fields (what the example patches)', async (t) => {
    const bare = join(workdir, 'bare');
    mkdirSync(bare);
    writeFileSync(join(bare, 'kustomization.yaml'), `namespace: elsewhere\nbases:\n  - ${relative(bare, join(repoRoot, 'deploy/overlays/cert-manager'))}\n`);
    const objects = render(bare);
    t.strictSame(leftovers(objects, DEFAULT_NAMESPACE).sort(), [
      'Certificate/sre-quero: spec.commonName',
      'Certificate/sre-quero: spec.dnsNames[1]',
      'Certificate/sre-quero: spec.dnsNames[2]',
      'Certificate/sre-quero: spec.dnsNames[3]',
      'MutatingWebhookConfiguration/sre-quero: metadata.annotations.cert-manager.io/inject-ca-from',
      'MutatingWebhookConfiguration/sre-quero: webhooks[0].namespaceSelector.matchExpressions[1].values (excluded by name)',
      'MutatingWebhookConfiguration/sre-quero: webhooks[1].namespaceSelector.matchExpressions[1].values (excluded by name)',
      'MutatingWebhookConfiguration/sre-quero: webhooks[2].namespaceSelector.matchExpressions[1].values (excluded by name)',
      'Namespace/elsewhere: metadata.labels.kubernetes.io/metadata.name',
      'ValidatingAdmissionPolicy/sre-quero-enforced-logging: spec.validations[0].messageExpression',
      'ValidatingAdmissionPolicyBinding/sre-quero-enforced-logging: spec.matchResources.namespaceSelector.matchExpressions[1].values (excluded by name)',
    ], 'current kustomize moves metadata.namespace, the Namespace, the binding subjects and the webhooks’ Service, nothing else');
    for (const binding of [...all(objects, 'RoleBinding'), ...all(objects, 'ClusterRoleBinding')]) {
      t.strictSame(binding.subjects.map((s: Json) => s.namespace), ['elsewhere'], `${binding.kind} subjects follow`);
    }
    if (v2 !== undefined) {
      const old = leftovers(render(bare, v2), DEFAULT_NAMESPACE);
      t.ok(old.includes('Namespace/sre-quero: metadata.name'), 'kustomize v2.0.3 does not rename the Namespace');
      t.ok(old.includes('MutatingWebhookConfiguration/sre-quero: webhooks[0].clientConfig.service.namespace'), 'nor the webhooks’ Service');
    }
  });

  const cases: [ExampleVariant, string][] = EXAMPLE_VARIANTS.flatMap((variant): [ExampleVariant, string][] => [[variant, EXAMPLE_NAMESPACE], [variant, 'obs']]);
  for (const [variant, namespace] of cases) {
    t.test(`example-namespace over overlays/${variant}, namespace ${namespace}: every namespace-dependent field follows`, async (t) => {
      const dir = writeExample(workdir, { namespace, variant });
      const objects = render(dir);
      t.strictSame(leftovers(objects, DEFAULT_NAMESPACE), [], 'no field names sre-quero as a namespace');

      const ns = one(objects, 'Namespace');
      t.equal(ns.metadata.name, namespace, 'the Namespace');
      t.equal(ns.metadata.labels['kubernetes.io/metadata.name'], namespace, 'its name label');
      t.equal(ns.metadata.labels['logging.sre-quero/injection'], 'disabled', 'still never injected');
      for (const object of objects.filter((o) => !CLUSTER_SCOPED.has(o.kind))) t.equal(object.metadata.namespace, namespace, `${object.kind}/${object.metadata.name} in it`);
      for (const binding of [...all(objects, 'RoleBinding'), ...all(objects, 'ClusterRoleBinding')]) {
        t.strictSame(binding.subjects, [{ kind: 'ServiceAccount', name: 'sre-quero', namespace }], `${binding.kind} ${binding.metadata.name}: the ServiceAccount there`);
      }
      const deployment = one(objects, 'Deployment');
      t.strictSame(
        deployment.spec.template.spec.containers[0].env.find((e: Json) => e.name === 'SRE_QUERO_NAMESPACE'),
        { name: 'SRE_QUERO_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
        'the server learns it from its pod',
      );

      const webhooks = [...all(objects, 'MutatingWebhookConfiguration'), ...all(objects, 'ValidatingWebhookConfiguration')].flatMap((c) => c.webhooks as Json[]);
      t.equal(webhooks.length, variant === 'legacy-self-signed' ? 4 : 3);
      for (const webhook of webhooks) {
        t.equal(webhook.clientConfig.service.namespace, namespace, `${webhook.name}: calls the Service there`);
        t.strictSame(excluded(webhook.namespaceSelector), ['kube-system', namespace], `${webhook.name}: never sends its pods`);
      }
      const policies = all(objects, 'ValidatingAdmissionPolicy');
      if (variant === 'legacy-self-signed') t.equal(policies.length, 0, 'no policy before 1.30');
      else {
        t.strictSame(excluded(one(objects, 'ValidatingAdmissionPolicyBinding').spec.matchResources.namespaceSelector), ['kube-system', namespace], 'the policy binding never checks it');
        const message = one(objects, 'ValidatingAdmissionPolicy').spec.validations[0].messageExpression as string;
        const webhookMessage = JSON.parse(
          answerEnforcement({ apiVersion: 'admission.k8s.io/v1', request: { uid: 'u', kind: undefined, operation: 'CREATE', namespace: 'shop', name: 'p', pod: { spec: { containers: [{ name: 'app' }] } } } }, namespace).answer,
        ).response.status.message as string;
        const tail = `check the sre-quero webhook in namespace ${namespace} if this persists.`;
        t.ok(webhookMessage.endsWith(tail) && message.endsWith(`${tail}'`), 'the policy’s message points where the webhook check’s does');
      }

      if (variant === 'cert-manager') {
        const certificate = all(objects, 'Certificate').find((c) => c.metadata.name === 'sre-quero') as Json;
        t.strictSame(certificate.spec.dnsNames, serviceDnsNames('sre-quero', namespace), 'the serving Certificate names the Service there');
        t.equal(certificate.spec.commonName, `sre-quero.${namespace}.svc`);
        t.equal(one(objects, 'MutatingWebhookConfiguration').metadata.annotations['cert-manager.io/inject-ca-from'], `${namespace}/sre-quero`, 'cainjector reads that Certificate');
      } else {
        const secret = one(objects, 'Secret');
        t.equal(secret.metadata.namespace, namespace);
        const serving = new X509Certificate(Buffer.from(secret.data['tls.crt'], 'base64'));
        t.match(serving.subjectAltName, `DNS:sre-quero.${namespace}.svc,`, '`sre-quero certs --namespace` names the Service there');
        for (const webhook of webhooks) t.equal(webhook.clientConfig.caBundle, secret.data['ca.crt'], `${webhook.name}: trusts its CA`);
      }

      if (v2 !== undefined) {
        // kustomize v2.0.3 also sets metadata.namespace on the cluster-scoped
        // kinds it does not know (the API server drops it); nothing else differs.
        const strip = (list: Json[]) =>
          list
            .map((o) => {
              const copy = structuredClone(o);
              if (CLUSTER_SCOPED.has(copy.kind)) delete copy.metadata.namespace;
              return copy;
            })
            .sort((a, b) => `${a.kind}/${a.metadata.name}`.localeCompare(`${b.kind}/${b.metadata.name}`));
        // overlays/legacy-self-signed drops the policy with `$patch: delete`, which
        // kustomize v2.0.3 does not apply to kinds its schema lacks (the policy is
        // 1.30's): it renders the two objects with the directive left in. Known,
        // and not about the namespace; reported, not fixed here.
        const todo = variant === 'legacy-self-signed' ? { todo: 'kustomize v2.0.3 keeps the $patch: delete objects of overlays/legacy-self-signed' } : {};
        t.strictSame(strip(render(dir, v2)), strip(objects), 'kustomize v2.0.3 renders the same', todo);
      }
    });
  }

  t.test('the cert-manager example changes nothing but the namespace-dependent fields', async (t) => {
    const namespace = 'obs';
    const example = render(writeExample(workdir, { namespace, variant: 'cert-manager', name: 'compare' }));
    // The shipped overlay, with exactly the fields the patches and `namespace:` are for moved by hand.
    const moved = render(join(repoRoot, 'deploy/overlays/cert-manager')).map((object) => {
      const text = JSON.stringify(object)
        .replaceAll('"namespace":"sre-quero"', `"namespace":"${namespace}"`)
        .replaceAll('"values":["kube-system","sre-quero"]', `"values":["kube-system","${namespace}"]`)
        .replaceAll('sre-quero.sre-quero', `sre-quero.${namespace}`)
        .replaceAll('"sre-quero/sre-quero"', `"${namespace}/sre-quero"`)
        .replaceAll('in namespace sre-quero', `in namespace ${namespace}`)
        .replaceAll('"kubernetes.io/metadata.name":"sre-quero"', `"kubernetes.io/metadata.name":"${namespace}"`);
      const copy = JSON.parse(text) as Json;
      if (copy.kind === 'Namespace') copy.metadata.name = namespace;
      return copy;
    });
    const byKey = (list: Json[]) => new Map(list.map((o) => [`${o.kind}/${o.metadata.name}`, o]));
    const expected = byKey(moved);
    t.strictSame([...byKey(example).keys()].sort(), [...expected.keys()].sort(), 'the same objects');
    for (const [key, object] of byKey(example)) t.strictSame(object, expected.get(key), key);
  });

  t.test('the shipped example names logging-system everywhere it names the namespace', async (t) => {
    const dir = join(repoRoot, 'deploy/overlays/example-namespace');
    const objects = render(dir);
    t.strictSame(leftovers(objects, DEFAULT_NAMESPACE), []);
    t.equal(one(objects, 'Namespace').metadata.name, EXAMPLE_NAMESPACE);
    const kustomization = parse(readFileSync(join(dir, 'kustomization.yaml'), 'utf8')) as Json;
    t.equal(kustomization.namespace, EXAMPLE_NAMESPACE);
    t.strictSame(kustomization.bases, ['../cert-manager'], 'over the recommended overlay');
    t.notOk('resources' in kustomization || 'components' in kustomization || 'replacements' in kustomization || 'vars' in kustomization, 'kustomize v2.0.3 reads it');
  });
}

t.test('the server skips its own namespace and names it in the enforcement message', async (t) => {
  const review = (namespace: string, annotations: Record<string, string> = { 'logging.sre-quero/sidecar': 'true' }) => ({
    apiVersion: 'admission.k8s.io/v1' as const,
    request: { uid: 'u', kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE', namespace, name: 'p', pod: { metadata: { annotations }, spec: { containers: [{ name: 'app', image: 'app:1' }] } } },
  });
  t.match(answerReview(review('logging-system'), DEFAULT_SETTINGS, 'annotated', undefined, 'logging-system'), { verdict: 'skipped', reason: 'own_namespace' });
  t.match(answerReview(review('logging-system'), DEFAULT_SETTINGS, 'enforced', undefined, 'logging-system'), { verdict: 'skipped', reason: 'own_namespace' }, 'even when the configuration sends it as enforced');
  t.match(answerReview(review('shop'), DEFAULT_SETTINGS, 'annotated', undefined, 'logging-system'), { verdict: 'injected' });
  t.match(answerReview(review('sre-quero'), DEFAULT_SETTINGS, 'annotated', undefined, 'logging-system'), { verdict: 'injected' }, 'sre-quero is an ordinary namespace to an install elsewhere');
  t.match(answerReview(review('logging-system'), DEFAULT_SETTINGS, 'annotated'), { verdict: 'injected' }, 'without a namespace (tests, offline) nothing is skipped');

  t.match(answerEnforcement(review('logging-system', {}), 'logging-system'), { verdict: 'allowed', reason: 'own_namespace' });
  const refused = answerEnforcement(review('shop', {}), 'logging-system');
  t.equal(refused.verdict, 'refused');
  t.match(JSON.parse(refused.answer).response.status.message, /check the sre-quero webhook in namespace logging-system if this persists\.$/);
  t.match(JSON.parse(answerEnforcement(review('shop', {})).answer).response.status.message, /in namespace sre-quero if this persists\.$/, 'deploy/base’s namespace by default, as its policy says');
});
