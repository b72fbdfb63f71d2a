import { readFileSync } from 'node:fs';
import t from 'tap';
import { parse, parseAllDocuments } from 'yaml';
import { loadSettings } from '../../src/config.js';
import { AGENT_PROFILES, DEFAULT_SETTINGS } from '../../src/injection/index.js';
import { SIDECAR_ENV } from '../../src/injection/sidecar.js';
import * as contract from '../../src/webhook-contract.js';

// deploy/base against the contract file: every name deploy/ depends on is
// declared once in src/webhook-contract.ts, and the manifests say the same.

type Json = Record<string, any>;
const base = (file: string): Json[] =>
  parseAllDocuments(readFileSync(new URL(`../../deploy/base/${file}`, import.meta.url), 'utf8')).map((doc) => doc.toJS() as Json).filter(Boolean);

t.test('the webhook configuration: names, Service and paths as the contract says', async (t) => {
  const [mutating] = base('webhooks.yaml').filter((doc) => doc.kind === 'MutatingWebhookConfiguration');
  t.equal(mutating?.metadata.name, contract.WEBHOOK_CONFIGURATION_NAME);
  t.same(
    mutating?.webhooks.map((w: Json) => ({ name: w.name, path: w.clientConfig.service.path })),
    contract.MUTATING_WEBHOOKS.map(({ name, path }) => ({ name, path })),
  );
  for (const webhook of mutating?.webhooks ?? []) {
    t.same({ name: webhook.clientConfig.service.name, namespace: webhook.clientConfig.service.namespace }, { name: contract.DEFAULT_SERVICE, namespace: contract.DEFAULT_NAMESPACE });
  }
});

t.test('RBAC: the Lease the reconciler campaigns for', async (t) => {
  const roles = base('rbac.yaml').filter((doc) => doc.kind === 'Role');
  const leaseRule = roles.flatMap((role) => role.rules).find((rule: Json) => rule.resources?.includes('leases') && rule.resourceNames);
  t.same(leaseRule?.resourceNames, [contract.LEASE_NAME]);
  t.same(leaseRule?.verbs, ['get', 'update']);
});

t.test('the template ConfigMap and the managed-by label', async (t) => {
  const template = base('promtail-template.yaml').find((doc) => doc.kind === 'ConfigMap');
  t.equal(template?.metadata.name, contract.TEMPLATE_CONFIGMAP_NAME);
  t.equal(template?.metadata.namespace, contract.DEFAULT_NAMESPACE);
  t.equal(contract.MANAGED_BY_LABEL, 'app.kubernetes.io/managed-by', 'the well-known label, so kubectl and dashboards read it');
});

t.test('the template holds a config per agent, and both ship the same streams to the same Loki', async (t) => {
  const template = base('promtail-template.yaml').find((doc) => doc.kind === 'ConfigMap') as Json;
  t.same(Object.keys(template.data).sort(), Object.values(AGENT_PROFILES).map((agent) => agent.configKey).sort(), 'one key per agent, named as agents.ts says');

  const promtail = parse(template.data['promtail.yaml']) as Json;
  const alloy = template.data['config.alloy'] as string;
  t.equal(promtail.clients.length, 1);
  t.same([...alloy.matchAll(/^\s*url\s*=\s*"([^"]+)"/gm)].map((m) => m[1]), [promtail.clients[0].url], 'the same Loki push URL in both: change both');

  // promtail: label -> ${ENV}; alloy: "label" = sys.env("ENV").
  const promtailLabels = Object.fromEntries(
    Object.entries(promtail.scrape_configs[0].static_configs[0].labels as Record<string, string>).map(([label, value]) => [label, /^\$\{(\w+)\}$/.exec(value)?.[1]]),
  );
  const alloyLabels = Object.fromEntries([...alloy.matchAll(/"(\w+)"\s*=\s*sys\.env\("(\w+)"\)/g)].map((m) => [m[1], m[2]]));
  t.same(alloyLabels, promtailLabels, 'the same labels (and __path__) from the same variables');
  t.same(Object.keys(promtailLabels).sort(), ['__path__', 'container', 'job', 'namespace', 'node', 'pod']);
  t.same(new Set(Object.values(alloyLabels)), new Set(Object.values(SIDECAR_ENV)), 'every variable the sidecar sets, and only those');
  t.match(alloy, /local\.file_match "app" \{[^}]*\}\]\s*sync_period\s*=\s*"1s"/s, 'new files found within a second, as promtail\'s -target.sync-period=1s');
  t.match(alloy, /loki\.source\.file "app" \{\s*targets\s*=\s*local\.file_match\.app\.targets\s*forward_to\s*=\s*\[loki\.write\.default\.receiver\]/);
});

t.test('the shipped settings load, and name the default agent and both images', async (t) => {
  const [settings] = base('settings.yaml').filter((doc) => doc.kind === 'ConfigMap');
  const loaded = loadSettings('settings.yaml', () => settings?.data['settings.yaml']);
  t.strictSame(loaded, DEFAULT_SETTINGS, 'what deploy/ ships is the built-in default, written out');
});

t.test('what `sre-quero uninstall` finds the install by: the label on every object, the names of the cluster-wide ones', async (t) => {
  const files = ['namespace.yaml', 'serviceaccount.yaml', 'rbac.yaml', 'settings.yaml', 'promtail-template.yaml', 'service.yaml', 'deployment.yaml', 'pdb.yaml', 'webhooks.yaml', 'enforcement-policy.yaml'];
  const objects = files.flatMap(base);
  for (const object of objects) t.equal(object.metadata.labels?.[contract.INSTALL_LABEL], contract.INSTALL_LABEL_VALUE, `${object.kind}/${object.metadata.name}`);
  const named = (kind: string) => objects.filter((o) => o.kind === kind).map((o) => o.metadata.name);
  t.strictSame(named('ValidatingAdmissionPolicy'), [`${contract.WEBHOOK_CONFIGURATION_NAME}${contract.POLICY_NAME_SUFFIX}`]);
  t.strictSame(named('ValidatingAdmissionPolicyBinding'), [`${contract.WEBHOOK_CONFIGURATION_NAME}${contract.POLICY_NAME_SUFFIX}`]);
  t.strictSame(named('ClusterRole'), [`${contract.WEBHOOK_CONFIGURATION_NAME}${contract.RECONCILER_RBAC_SUFFIX}`]);
  t.strictSame(named('ClusterRoleBinding'), [`${contract.WEBHOOK_CONFIGURATION_NAME}${contract.RECONCILER_RBAC_SUFFIX}`]);
  t.strictSame([...named('Deployment'), ...named('Service'), ...named('ServiceAccount')], [contract.DEFAULT_SERVICE, contract.DEFAULT_SERVICE, contract.DEFAULT_SERVICE], 'the install’s name, which the cluster-wide names start with');
  t.equal(objects.find((o) => o.kind === 'Deployment')?.metadata.labels['app.kubernetes.io/component'], 'webhook', 'how uninstall finds the other installs’ servers');
});

t.test('the settings ConfigMap is <Service>-settings beside the Service (where explain reads it)', async (t) => {
  const [settings] = base('settings.yaml');
  t.equal(settings?.metadata.name, `${contract.DEFAULT_SERVICE}${contract.SETTINGS_CONFIGMAP_SUFFIX}`);
  t.equal(settings?.metadata.namespace, contract.DEFAULT_NAMESPACE);
  t.ok(settings?.data[contract.SETTINGS_KEY]);
});

t.test('RBAC: what refusal events and the escaped-pods report read and write, and no more', async (t) => {
  const [role] = base('rbac.yaml').filter((doc) => doc.kind === 'ClusterRole');
  const verbs = (group: string, resource: string) => (role?.rules as Json[]).filter((rule) => rule.apiGroups.includes(group) && rule.resources.includes(resource)).flatMap((rule) => rule.verbs).sort();
  t.same(verbs('', 'events'), ['create'], 'Events are created, never changed');
  t.same(verbs('', 'namespaces'), ['list', 'watch'], 'the labelled namespaces');
  t.same(verbs('apps', 'replicasets'), ['get'], "a pod's Deployment, through its ReplicaSet");
  t.same(verbs('batch', 'jobs'), ['get'], "a pod's CronJob, through its Job");
  t.same(verbs('', 'pods'), ['list', 'watch'], 'pods are never written');
  t.same(verbs('apps', 'deployments'), [], 'workloads are never read nor written');
});
