import { readFileSync } from 'node:fs';
import t from 'tap';
import { parseAllDocuments } from 'yaml';
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
