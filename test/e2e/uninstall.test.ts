import t from 'tap';
import { runCaptured } from '../cluster/client.js';
import { childEnv } from '../helpers/child-env.js';
import type { Json } from '../helpers/reviews.js';
import { tempDir } from '../helpers/temp-dir.js';
import { repoRoot, waitFor } from './harness.js';
import { namespaceFor, nodeClusterOrSkip } from './node-harness.js';
import { applySecondInstall, injectedWith, removeSecondInstall, writeSecondInstall } from './second-install.js';

// `sre-quero uninstall` on a real cluster. The suite's install (namespace
// sre-quero) serves every other test file meanwhile, so this file installs a
// second copy (second-install.ts: another namespace, prefixed names, webhooks
// scoped to this file's namespace label, reconciler off) and uninstalls that.
//
// Its reconciler stays off: a second one would reconcile the whole cluster
// with the same field manager as the suite's, from a Lease in its own
// namespace, so both would lead at once. What a reconciler writes is made
// here instead, with its field manager and label, in this file's namespace:
// a Service port applied by field manager sre-quero (and one the app owns
// too), a managed ConfigMap. The suite's reconciler must not touch them
// meanwhile, so the pods behind the Services disagree on their metrics port
// (it reports a conflict and leaves the Service) and name a team ConfigMap
// (it never writes one of those), rather than the managed one.
//
// 1. uninstall without --app-namespaces: the install goes; the reconciled
//    objects stay, since the suite's install still reconciles them;
// 2. with --app-namespaces <this file's label>: they go too, in that
//    namespace only; the port the app owns too stays;
// 3. again: nothing left to remove.
// Throughout, the suite's install still injects.

const PREFIX = 'e2e-un-';
const NAMESPACE = 'e2e-un-system';
const SCOPE_LABEL = 'e2e.sre-quero.io/uninstall';
const LOG_PATH = '/var/log/e2e-un';
const FIELD_MANAGER = 'sre-quero';

const cluster = nodeClusterOrSkip();

if (cluster !== undefined) {
  const { api } = cluster;
  t.setTimeout(480_000);
  const install = writeSecondInstall(tempDir('uninstall'), { prefix: PREFIX, namespace: NAMESPACE, scopeLabel: SCOPE_LABEL, scopeValue: 'member', logPath: LOG_PATH });
  const fullname = install.fullname;
  const CLUSTER_OBJECTS: [string, string][] = [
    ['/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations', fullname],
    ['/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings', `${fullname}-enforced-logging`],
    ['/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies', `${fullname}-enforced-logging`],
    ['/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', `${fullname}-reconciler`],
    ['/apis/rbac.authorization.k8s.io/v1/clusterroles', `${fullname}-reconciler`],
  ];
  const get = async (path: string): Promise<Json | undefined> => {
    const reply = await api('GET', path);
    return reply.status === 200 ? (reply.body as Json) : undefined;
  };
  /** `sre-quero uninstall` as a user runs it, from the sources. */
  const uninstall = (args: string[]) =>
    runCaptured(process.execPath, ['--import', 'tsx', `${repoRoot}src/bin.ts`, 'uninstall', '--kubeconfig', cluster.kubeconfig, '--namespace', NAMESPACE, ...args], { cwd: repoRoot, env: childEnv({}, { dropServerSettings: true }), timeoutMs: 240_000 });
  /** Server-side apply as `manager` (no force), as the reconciler, or an app's own tooling, writes. */
  const apply = async (path: string, body: Json, manager: string) => {
    const reply = await api('PATCH', `${path}?fieldManager=${manager}&force=false`, body, { contentType: 'application/apply-patch+yaml' });
    if (reply.status !== 200 && reply.status !== 201) throw new Error(`apply ${path} as ${manager}: ${reply.status} ${JSON.stringify(reply.body)}`);
    return reply.body as Json;
  };
  const portsOf = async (namespace: string, name: string) => ((await get(`/api/v1/namespaces/${namespace}/services/${name}`))?.spec.ports as Json[]).map((p) => p.name).sort();

  // A killed run may have left it: start clean, end clean.
  await removeSecondInstall(cluster, install);
  await waitFor(`namespace ${NAMESPACE} gone`, async () => ((await get(`/api/v1/namespaces/${NAMESPACE}`)) === undefined ? true : undefined), 120_000, 1000);
  t.teardown(() => removeSecondInstall(cluster, install));
  const apps = await namespaceFor(cluster, 'e2e-un-apps', { [SCOPE_LABEL]: 'member' });
  const outside = await namespaceFor(cluster, 'e2e-un-outside');

  await applySecondInstall(cluster, install);
  // (It throws when no pod gets this install's settings. No assertion out here:
  // one at the top level, before any subtest, lets tap end the file, and run
  // the namespaces' teardown, while the set-up below still awaits.)
  await injectedWith(cluster, apps, LOG_PATH);
  t.comment(`the second install injects in ${apps}`);

  // What a reconciler would have written, by its field manager and label.
  for (const [name, port] of [['shop-1', 9080], ['shop-2', 9081]] as const) {
    const created = await api('POST', `/api/v1/namespaces/${apps}/pods`, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name,
        labels: { app: 'shop', 'logging.sre-quero/injected': 'true' },
        annotations: { 'logging.sre-quero/status': JSON.stringify({ agent: 'promtail', metricsPort: port, configMap: 'team-logging' }) },
      },
      spec: { nodeName: 'no-such-node', containers: [{ name: 'app', image: 'example.com/app:1.0' }] },
    });
    if (created.status !== 201) throw new Error(`pod ${name}: ${created.status}`);
  }
  const http = { name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' };
  const promtail = { name: 'promtail-http', port: 9080, targetPort: 'promtail-http', protocol: 'TCP' };
  const service = (name: string, ports: Json[]) => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: apps }, spec: { selector: { app: 'shop' }, ports } });
  // Exactly what the reconciler applies (src/reconciler/api.ts): the Service's ports, its one port only.
  const ours = (name: string) => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: apps }, spec: { ports: [promtail] } });
  await apply(`/api/v1/namespaces/${apps}/services/shop`, service('shop', [http]), 'team-app');
  await apply(`/api/v1/namespaces/${apps}/services/shop`, ours('shop'), FIELD_MANAGER);
  await apply(`/api/v1/namespaces/${apps}/services/shared`, service('shared', [http, promtail]), 'team-app');
  await apply(`/api/v1/namespaces/${apps}/services/shared`, ours('shared'), FIELD_MANAGER);
  const managed = (namespace: string) => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'promtail-sidecar-config', namespace, labels: { 'app.kubernetes.io/managed-by': 'sre-quero' } },
    data: { 'promtail.yaml': 'clients: []\n' },
  });
  await apply(`/api/v1/namespaces/${apps}/configmaps/promtail-sidecar-config`, managed(apps), FIELD_MANAGER);
  await apply(`/api/v1/namespaces/${outside}/configmaps/promtail-sidecar-config`, managed(outside), FIELD_MANAGER);
  await apply(`/api/v1/namespaces/${apps}/configmaps/team-logging`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'team-logging', namespace: apps }, data: { 'promtail.yaml': 'clients: []\n' } }, 'team-app');

  t.test('--dry-run: says what it would do, changes nothing', async (t) => {
    const dry = await uninstall(['--app-namespaces', `${SCOPE_LABEL}=member`, '--dry-run']);
    t.equal(dry.status, 0, 'exit 0', { stderr: dry.stderr });
    t.match(dry.stdout, `would delete MutatingWebhookConfiguration ${fullname}\n`);
    t.match(dry.stdout, `would release port promtail-http (9080/TCP) of Service ${apps}/shop\n`);
    t.match(dry.stdout, `port promtail-http (9080/TCP) of Service ${apps}/shared: kept, team-app owns it too\n`);
    t.match(dry.stdout, /dry run: would delete \d+ object\(s\), would release 1 Service port\(s\)\n$/);
    for (const [path, name] of CLUSTER_OBJECTS) t.ok(await get(`${path}/${name}`), `${name} still there`);
    t.strictSame(await portsOf(apps, 'shop'), ['http', 'promtail-http']);
    t.ok(await get(`/apis/apps/v1/namespaces/${NAMESPACE}/deployments/${fullname}`));
  });

  t.test('uninstall: the install goes, webhooks first; what the suite’s reconciler also keeps stays', async (t) => {
    const run = await uninstall([]);
    t.equal(run.status, 0, 'exit 0', { stdout: run.stdout, stderr: run.stderr });
    const lines = run.stdout.split('\n');
    const at = (line: string) => {
      const index = lines.indexOf(line);
      t.ok(index >= 0, `printed: ${line}`);
      return index;
    };
    const order = [
      at(`deleted MutatingWebhookConfiguration ${fullname}`),
      at(`deleted ValidatingAdmissionPolicyBinding ${fullname}-enforced-logging`),
      at(`deleted ValidatingAdmissionPolicy ${fullname}-enforced-logging`),
      at(`deleted Deployment ${NAMESPACE}/${fullname}`),
      at(`deleted ClusterRoleBinding ${fullname}-reconciler`),
      at(`deleted Service ${NAMESPACE}/${fullname}`),
      at(`deleted Secret ${NAMESPACE}/${fullname}-tls`),
      at(`deleted Namespace ${NAMESPACE}`),
    ];
    t.strictSame(order, [...order].sort((a, b) => a - b), 'in that order');
    t.ok(
      lines.some((l) => l.startsWith('reconciled Service ports and ConfigMaps: kept, the sre-quero install in namespace sre-quero still reconciles them')),
      'the suite’s install still reconciles: its objects are left',
    );
    t.match(run.stdout, /pod\(s\) injected by sre-quero keep their sidecar until they are recreated .*kubectl rollout restart/);

    for (const [path, name] of CLUSTER_OBJECTS) t.equal((await api('GET', `${path}/${name}`)).status, 404, `${name} gone`);
    await waitFor(`namespace ${NAMESPACE} gone`, async () => ((await get(`/api/v1/namespaces/${NAMESPACE}`)) === undefined ? true : undefined), 150_000, 1000);
    t.pass(`namespace ${NAMESPACE} gone, with everything in it`);
    t.strictSame(await portsOf(apps, 'shop'), ['http', 'promtail-http'], 'the reconciled port is still there');
    t.ok(await get(`/api/v1/namespaces/${apps}/configmaps/promtail-sidecar-config`), 'and the managed ConfigMap');
  });

  t.test('uninstall --app-namespaces: what the reconciler wrote goes, there only; ports the app owns too stay', async (t) => {
    const run = await uninstall(['--app-namespaces', `${SCOPE_LABEL}=member`]);
    t.equal(run.status, 0, 'exit 0', { stdout: run.stdout, stderr: run.stderr });
    t.match(run.stdout, `released port promtail-http (9080/TCP) of Service ${apps}/shop\n`);
    t.match(run.stdout, `port promtail-http (9080/TCP) of Service ${apps}/shared: kept, team-app owns it too\n`);
    t.match(run.stdout, `deleted ConfigMap ${apps}/promtail-sidecar-config\n`);
    t.strictSame(await portsOf(apps, 'shop'), ['http'], 'sre-quero’s port gone, the app’s stays');
    const shared = await get(`/api/v1/namespaces/${apps}/services/shared`);
    t.strictSame((shared?.spec.ports as Json[]).map((p) => p.name).sort(), ['http', 'promtail-http'], 'a port the app owns too stays');
    t.notOk((shared?.metadata.managedFields as Json[]).some((f) => f.manager === FIELD_MANAGER && f.operation === 'Apply'), 'sre-quero no longer owns any of it');
    t.equal((await api('GET', `/api/v1/namespaces/${apps}/configmaps/promtail-sidecar-config`)).status, 404, 'the managed ConfigMap gone');
    t.ok(await get(`/api/v1/namespaces/${apps}/configmaps/team-logging`), 'the team’s ConfigMap stays');
    t.ok(await get(`/api/v1/namespaces/${outside}/configmaps/promtail-sidecar-config`), 'outside the selected namespaces nothing changed');
  });

  t.test('again: nothing left to remove; the suite’s install still injects', async (t) => {
    const run = await uninstall(['--app-namespaces', `${SCOPE_LABEL}=member`]);
    t.equal(run.status, 0, { stderr: run.stderr });
    t.match(run.stdout, new RegExp(`nothing to remove: no sre-quero install in namespace ${NAMESPACE}`));
    t.notMatch(run.stdout, /^deleted|^released/m, 'no change');

    const fresh = await namespaceFor(cluster, 'e2e-un-after');
    await injectedWith(cluster, fresh, '/var/log/app', 60_000);
    t.pass('the suite’s install injects');
    for (const path of [
      '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/sre-quero',
      '/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings/sre-quero-enforced-logging',
      '/apis/rbac.authorization.k8s.io/v1/clusterroles/sre-quero-reconciler',
      '/apis/apps/v1/namespaces/sre-quero/deployments/sre-quero',
      '/apis/coordination.k8s.io/v1/namespaces/sre-quero/leases/sre-quero-reconciler',
    ]) {
      t.ok(await get(path), `${path.split('/').slice(-2).join('/')}: the suite’s, still there`);
    }
  });
}
