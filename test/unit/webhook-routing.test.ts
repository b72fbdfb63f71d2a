import { readFileSync } from 'node:fs';
import t from 'tap';
import { parseAllDocuments } from 'yaml';
import { checkEntries, describeSelector, evaluateCondition, selectorMatches, type WebhookConfigurationLike } from '../../src/explain/webhook-routing.js';

// Which sre-quero webhook entry the API server calls for a pod, read from the
// configuration deploy/base installs: the selectors' semantics, the
// matchConditions this file can evaluate, and every mode.

const installed = parseAllDocuments(readFileSync(new URL('../../deploy/base/webhooks.yaml', import.meta.url), 'utf8'))
  .map((doc) => doc.toJS() as WebhookConfigurationLike & { kind: string })
  .filter((doc) => doc?.kind === 'MutatingWebhookConfiguration');
const ANNOTATED = { labels: {}, annotations: { 'logging.sre-quero/sidecar': 'true' } };
const PLAIN = { labels: {}, annotations: {} };
const ns = (name: string, label?: string) => ({ 'kubernetes.io/metadata.name': name, ...(label ? { 'logging.sre-quero/injection': label } : {}) });
const called = (namespaceLabels: Record<string, string>, pod = PLAIN) => checkEntries(installed, namespaceLabels, pod).filter((check) => check.sent).map((check) => `${check.entry} ${check.mode}`);

t.test('label selectors as Kubernetes reads them', async (t) => {
  const labels = { app: 'web', tier: 'front' };
  t.ok(selectorMatches(undefined, labels), 'no selector: everything');
  t.ok(selectorMatches({}, labels));
  t.ok(selectorMatches({ matchLabels: { app: 'web' } }, labels));
  t.notOk(selectorMatches({ matchLabels: { app: 'api' } }, labels));
  t.ok(selectorMatches({ matchExpressions: [{ key: 'tier', operator: 'In', values: ['front', 'back'] }] }, labels));
  t.notOk(selectorMatches({ matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] }, labels));
  t.ok(selectorMatches({ matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['a'] }] }, labels), 'NotIn holds for a missing label');
  t.notOk(selectorMatches({ matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['front'] }] }, labels));
  t.ok(selectorMatches({ matchExpressions: [{ key: 'app', operator: 'Exists' }] }, labels));
  t.notOk(selectorMatches({ matchExpressions: [{ key: 'zone', operator: 'Exists' }] }, labels));
  t.ok(selectorMatches({ matchExpressions: [{ key: 'zone', operator: 'DoesNotExist' }] }, labels));
  t.notOk(selectorMatches({ matchExpressions: [{ key: 'app', operator: 'DoesNotExist' }] }, labels));
  t.notOk(selectorMatches({ matchExpressions: [{ key: 'app', operator: 'Gt', values: ['1'] }] }, labels), 'an operator it does not know selects nothing');
  t.equal(
    describeSelector({ matchLabels: { a: 'b' }, matchExpressions: [{ key: 'x', operator: 'In', values: ['1', '2'] }, { key: 'y', operator: 'NotIn' }, { key: 'z', operator: 'Exists' }, { key: 'w', operator: 'DoesNotExist' }] }),
    'a=b, x in (1,2), y notin (), z, !w',
  );
  t.equal(describeSelector(undefined), '(everything)');
});

t.test('matchConditions: the forms sre-quero writes are evaluated, others are not', async (t) => {
  const shipped = "has(object.metadata.annotations) && 'logging.sre-quero/sidecar' in object.metadata.annotations";
  t.equal(evaluateCondition(shipped, ANNOTATED), true);
  t.equal(evaluateCondition(shipped, PLAIN), false);
  t.equal(evaluateCondition(shipped, { labels: {}, annotations: { other: 'x' } }), false);
  t.equal(evaluateCondition('"team" in object.metadata.labels', { labels: { team: 'a' }, annotations: {} }), true);
  t.equal(evaluateCondition('has(object.metadata.labels)', PLAIN), false);
  t.equal(evaluateCondition("object.metadata.name.startsWith('web')", PLAIN), undefined, 'other CEL: not evaluated');
  t.equal(evaluateCondition("object.spec.hostNetwork && 'x' in object.metadata.labels", PLAIN), false, 'one false term decides');
});

t.test('deploy/base: each namespace and pod goes to its entry, or none', async (t) => {
  t.same(called(ns('shop'), ANNOTATED), ['annotated.injector.sre-quero.io annotated']);
  t.same(called(ns('shop')), [], 'unannotated pods are not even sent');
  t.same(called(ns('shop', 'enabled')), ['enabled.injector.sre-quero.io enabled']);
  t.same(called(ns('shop', 'enforced'), ANNOTATED), ['enforced.injector.sre-quero.io enforced']);
  t.same(called(ns('shop', 'disabled'), ANNOTATED), []);
  t.same(called(ns('kube-system', 'enabled'), ANNOTATED), []);
  t.same(called(ns('sre-quero'), ANNOTATED), []);
  const checks = checkEntries(installed, ns('shop'), PLAIN);
  t.match(checks, [
    { configuration: 'sre-quero', entry: 'annotated.injector.sre-quero.io', mode: 'annotated', service: { namespace: 'sre-quero', name: 'sre-quero' }, namespaceMatches: true, sent: false, failedOn: 'matchCondition', why: /^its matchCondition has-sidecar-annotation is false for the pod: has\(object/ },
    { entry: 'enabled.injector.sre-quero.io', namespaceMatches: false, failedOn: 'namespaceSelector', why: 'its namespaceSelector (logging.sre-quero/injection in (enabled), kubernetes.io/metadata.name notin (kube-system,sre-quero)) does not select the namespace' },
    { entry: 'enforced.injector.sre-quero.io', namespaceMatches: false },
  ]);
  t.match(checkEntries(installed, ns('shop'), ANNOTATED)[0], { sent: true, why: 'its namespaceSelector selects the namespace, and its matchConditions hold', unevaluated: [] });
});

t.test('entries as others may install them: a URL, an objectSelector, CEL of their own, rules without pods, foreign entries', async (t) => {
  const configurations: WebhookConfigurationLike[] = [
    {
      metadata: { name: 'mine' },
      webhooks: [
        { name: 'someone-else.example.com', rules: [{ operations: ['CREATE'], apiGroups: [''], resources: ['pods'] }] },
        { name: 'annotated.injector.sre-quero.io', clientConfig: { url: 'https://127.0.0.1:8443/mutate' }, rules: [{ operations: ['UPDATE'], apiGroups: [''], resources: ['pods'] }] },
        {
          name: 'enabled.injector.sre-quero.io',
          clientConfig: { url: 'https://127.0.0.1:8443/mutate/enabled' },
          rules: [{ operations: ['*'], apiGroups: ['*'], resources: ['*'] }],
          objectSelector: { matchLabels: { logging: 'yes' } },
        },
        {
          name: 'enforced.injector.sre-quero.io',
          clientConfig: { url: 'not a url' },
          rules: [{ operations: ['CREATE'], apiGroups: [''], resources: ['pods'] }],
          matchConditions: [{ name: 'custom', expression: "object.metadata.name != 'x'" }],
        },
      ],
    },
    { webhooks: [{ name: 'annotated.injector.sre-quero.io' }] },
  ];
  const checks = checkEntries(configurations, {}, { labels: {}, annotations: {} });
  t.match(checks, [
    { entry: 'annotated.injector.sre-quero.io', mode: 'annotated', sent: false, failedOn: 'rules', why: 'its rules do not cover pod creation' },
    { entry: 'enabled.injector.sre-quero.io', mode: 'enabled', sent: false, failedOn: 'objectSelector', namespaceMatches: true, why: "its objectSelector (logging=yes) does not select the pod's labels" },
    { entry: 'enforced.injector.sre-quero.io', mode: undefined, sent: true, unevaluated: ['custom'], why: /not evaluated here, assumed: custom/ },
    { configuration: '(unnamed)', entry: 'annotated.injector.sre-quero.io', failedOn: 'rules' },
  ]);
  t.equal(checks.length, 4, 'only sre-quero entries');
  t.notOk('service' in (checks[0] as object), 'a URL entry names no Service');
});
