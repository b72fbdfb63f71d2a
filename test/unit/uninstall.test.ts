import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import t from 'tap';
import { KubeConfig } from '@kubernetes/client-node';
import { main } from '../../src/cli.js';
import { UninstallFailedError, UsageError } from '../../src/errors.js';
import type { WriteOutcome } from '../../src/reconciler/api.js';
import { uninstallApi, type Kind, type KubeObject, type UninstallApi } from '../../src/uninstall/api.js';
import { runUninstall } from '../../src/uninstall/command.js';
import { runsReconciler, uninstall, type UninstallOptions } from '../../src/uninstall/uninstall.js';
import { tempDir } from '../helpers/temp-dir.js';

// `sre-quero uninstall` against a fake cluster (the narrow UninstallApi):
// the order of its steps, that only what sre-quero owns goes (ports a user
// owns too stay, a team's ConfigMap stays, another install stays), that a
// second run finds nothing, the dry run, and the CLI's exit codes. The REST
// calls themselves (api.ts) against a fake API server at the end.

const INSTALL = { 'app.kubernetes.io/name': 'sre-quero' };
const MANAGED = { 'app.kubernetes.io/managed-by': 'sre-quero' };
const portKey = (port: number) => `k:{"port":${port},"protocol":"TCP"}`;
const owns = (manager: string, operation: string, ports: number[]) => ({ manager, operation, fieldsV1: { 'f:spec': { 'f:ports': Object.fromEntries(ports.map((p) => [portKey(p), {}])) } } });

type Entry = [Kind, KubeObject];
const meta = (name: string, namespace?: string, labels?: Record<string, string>) => ({ name, ...(namespace ? { namespace } : {}), ...(labels ? { labels } : {}) });

/** The objects deploy/ creates (with a kustomize namePrefix, or as a Helm release when `helm`), and its running pods. */
function install(namespace: string, options: { prefix?: string; reconciler?: boolean; helm?: boolean; certManager?: boolean } = {}): Entry[] {
  const name = `${options.prefix ?? ''}sre-quero`;
  const reconciler = options.reconciler ?? true;
  const entries: Entry[] = [
    ['MutatingWebhookConfiguration', { metadata: meta(name, undefined, INSTALL), webhooks: ['annotated', 'enabled', 'enforced'].map((m) => ({ name: `${m}.injector.sre-quero.io`, clientConfig: { service: { namespace, name } } })) }],
    ['ValidatingAdmissionPolicy', { metadata: meta(`${name}-enforced-logging`, undefined, INSTALL) }],
    ['ValidatingAdmissionPolicyBinding', { metadata: meta(`${name}-enforced-logging`, undefined, INSTALL), spec: { policyName: `${name}-enforced-logging` } }],
    ['ClusterRole', { metadata: meta(`${name}-reconciler`, undefined, INSTALL) }],
    ['ClusterRoleBinding', { metadata: meta(`${name}-reconciler`, undefined, INSTALL), roleRef: { kind: 'ClusterRole', name: `${name}-reconciler` }, subjects: [{ kind: 'ServiceAccount', name, namespace }] }],
    ['Namespace', { metadata: meta(namespace, undefined, options.helm ? {} : INSTALL) }],
    [
      'Deployment',
      {
        metadata: meta(name, namespace, { ...INSTALL, 'app.kubernetes.io/component': 'webhook' }),
        spec: {
          replicas: 2,
          template: { spec: { volumes: [{ secret: { secretName: `${name}-tls` } }, {}], containers: [{ args: ['serve'], env: reconciler ? [] : [{ name: 'SRE_QUERO_RECONCILER', value: 'off' }] }] } },
        },
      },
    ],
    ['Pod', { metadata: meta(`${name}-abc`, namespace, INSTALL) }],
    ['Pod', { metadata: meta(`${name}-def`, namespace, INSTALL) }],
    ['Service', { metadata: meta(name, namespace, INSTALL), spec: { ports: [{ name: 'https', port: 443 }] } }],
    ['PodDisruptionBudget', { metadata: meta(name, namespace, INSTALL) }],
    ['RoleBinding', { metadata: meta(name, namespace, INSTALL) }],
    ['Role', { metadata: meta(name, namespace, INSTALL) }],
    ['ServiceAccount', { metadata: meta(name, namespace, INSTALL) }],
    ['ConfigMap', { metadata: meta(`${name}-settings`, namespace, INSTALL) }],
    ['ConfigMap', { metadata: meta(options.helm ? 'sre-quero-promtail-template' : `${name}-promtail-template`, namespace, INSTALL) }],
    ['ConfigMap', { metadata: meta('kube-root-ca.crt', namespace) }],
    // `sre-quero certs` before it labelled its Secret; Helm's are labelled.
    ['Secret', { metadata: meta(`${name}-tls`, namespace, options.helm ? INSTALL : undefined) }],
    ['Secret', { metadata: meta('sh.helm.release.v1.x.v1', namespace, { owner: 'helm' }) }],
  ];
  if (reconciler) entries.push(['Lease', { metadata: meta('sre-quero-reconciler', namespace) }]);
  if (options.certManager) {
    entries.push(
      ['Certificate', { metadata: meta(`${name}-ca`, namespace, INSTALL), spec: { secretName: `${name}-ca` } }],
      ['Certificate', { metadata: meta(name, namespace, INSTALL), spec: { secretName: `${name}-tls` } }],
      ['Issuer', { metadata: meta(`${name}-ca`, namespace, INSTALL) }],
      ['Secret', { metadata: meta(`${name}-ca`, namespace) }],
    );
  }
  return entries;
}

/** What the reconciler wrote in two application namespaces, and what it must leave. */
function applications(): Entry[] {
  const service = (namespace: string, name: string, ports: { name: string; port: number }[], managedFields: unknown[]): Entry => [
    'Service',
    { metadata: { ...meta(name, namespace), managedFields: managedFields as never }, spec: { ports: ports.map((p) => ({ ...p, protocol: 'TCP' })) } },
  ];
  return [
    ['Namespace', { metadata: meta('shop', undefined, { team: 'shop' }) }],
    ['Namespace', { metadata: meta('blog', undefined, { team: 'blog' }) }],
    service('shop', 'web', [{ name: 'http', port: 80 }, { name: 'promtail-http', port: 9080 }], [owns('kubectl', 'Update', [80]), owns('sre-quero', 'Apply', [9080])]),
    // The app declares the port itself too (its own apply): it stays.
    service('shop', 'api', [{ name: 'http', port: 80 }, { name: 'promtail-http', port: 9080 }], [owns('helm', 'Update', [80, 9080]), owns('sre-quero', 'Apply', [9080])]),
    service('shop', 'plain', [{ name: 'http', port: 80 }], [owns('kubectl', 'Update', [80])]),
    // Only our port: the API server would refuse a Service with none (422).
    service('shop', 'lonely', [{ name: 'promtail-http', port: 9080 }], [owns('sre-quero', 'Apply', [9080])]),
    service('blog', 'blog', [{ name: 'http', port: 80 }, { name: 'promtail-http', port: 9080 }], [owns('kubectl', 'Update', [80]), owns('sre-quero', 'Apply', [9080])]),
    ['ConfigMap', { metadata: meta('promtail-sidecar-config', 'shop', MANAGED) }],
    ['ConfigMap', { metadata: meta('promtail-sidecar-config', 'blog', MANAGED) }],
    ['ConfigMap', { metadata: meta('team-logging', 'shop') }],
    ['Pod', { metadata: meta('web-1', 'shop', { 'logging.sre-quero/injected': 'true' }) }],
  ];
}

const matches = (labels: Record<string, string> | undefined, selector: string | undefined): boolean =>
  selector === undefined ||
  selector.split(',').every((requirement) => {
    const [key, value] = requirement.split('=') as [string, string];
    return labels?.[key] === value;
  });

/** A cluster in memory. `log` holds every write, in order. */
class FakeCluster implements UninstallApi {
  readonly log: string[] = [];
  objects: Entry[];
  /** Lists of the webhook pods before they are gone, once their Deployment is deleted. */
  podsLinger = 2;
  failOn: string | undefined;
  private stopping = new Map<string, number>();

  constructor(entries: Entry[]) {
    this.objects = structuredClone(entries);
  }
  find(kind: Kind, name: string, namespace?: string): KubeObject | undefined {
    return this.objects.find(([k, o]) => k === kind && o.metadata.name === name && (namespace === undefined || o.metadata.namespace === namespace))?.[1];
  }
  names(kind: Kind): string[] {
    return this.objects.filter(([k]) => k === kind).map(([, o]) => `${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name}`).sort();
  }
  async list(kind: Kind, options: { namespace?: string; labelSelector?: string } = {}): Promise<KubeObject[]> {
    if (kind === 'Pod' && options.namespace !== undefined) {
      const left = this.stopping.get(options.namespace);
      if (left !== undefined) {
        if (left <= 0) this.objects = this.objects.filter(([k, o]) => !(k === 'Pod' && o.metadata.namespace === options.namespace && matches(o.metadata.labels, 'app.kubernetes.io/name=sre-quero')));
        this.stopping.set(options.namespace, left - 1);
      }
    }
    return structuredClone(
      this.objects.filter(([k, o]) => k === kind && (options.namespace === undefined || o.metadata.namespace === options.namespace) && matches(o.metadata.labels, options.labelSelector)).map(([, o]) => o),
    );
  }
  async get(kind: Kind, name: string, namespace?: string): Promise<KubeObject | undefined> {
    const found = this.find(kind, name, namespace);
    return found === undefined ? undefined : structuredClone(found);
  }
  async remove(kind: Kind, name: string, namespace?: string): Promise<boolean> {
    const what = `delete ${kind} ${namespace ? `${namespace}/` : ''}${name}`;
    if (this.failOn === what) throw new Error(`${what}: 403 forbidden`);
    const before = this.objects.length;
    this.objects = this.objects.filter(([k, o]) => !(k === kind && o.metadata.name === name && (namespace === undefined || o.metadata.namespace === namespace)));
    if (before === this.objects.length) return false;
    this.log.push(what);
    if (kind === 'Deployment' && namespace !== undefined) this.stopping.set(namespace, this.podsLinger);
    return true;
  }
  async releaseServicePorts(namespace: string, name: string): Promise<WriteOutcome> {
    const service = this.find('Service', name, namespace);
    if (service === undefined) return { ok: false, status: 404, message: 'not found' };
    const fields = service.metadata.managedFields ?? [];
    const heldByOthers = new Set(fields.filter((f) => !(f.manager === 'sre-quero' && f.operation === 'Apply')).flatMap((f) => Object.keys((f.fieldsV1 as { 'f:spec': { 'f:ports': object } })['f:spec']['f:ports'])));
    const ports = (service.spec?.ports ?? []).filter((p) => heldByOthers.has(portKey(p.port)));
    if (ports.length === 0) return { ok: false, status: 422, message: 'Service "lonely" is invalid: spec.ports: Required value' };
    this.log.push(`release Service ${namespace}/${name}`);
    (service.spec as { ports: unknown[] }).ports = ports;
    service.metadata.managedFields = fields.filter((f) => !(f.manager === 'sre-quero' && f.operation === 'Apply'));
    return { ok: true };
  }
}

const OPTIONS: UninstallOptions = { namespace: 'sre-quero', dryRun: false, stopTimeoutMs: 60_000 };
async function run(cluster: UninstallApi, options: Partial<UninstallOptions> = {}) {
  const lines: string[] = [];
  let clock = 0;
  const sleeps: number[] = [];
  const result = await uninstall(
    { api: cluster, print: (line) => lines.push(line), now: () => clock, sleep: async (ms) => void (sleeps.push(ms), (clock += ms)) },
    { ...OPTIONS, ...options },
  );
  return { result, lines, sleeps };
}

t.test('removes the install in order: webhooks, policy, server, what the reconciler wrote, the namespace’s objects, the namespace', async (t) => {
  const cluster = new FakeCluster([...install('sre-quero'), ...install('sre-quero-canary', { prefix: 'canary-', reconciler: false }), ...applications()]);
  const { lines, sleeps } = await run(cluster);
  t.strictSame(cluster.log, [
    'delete MutatingWebhookConfiguration sre-quero',
    'delete ValidatingAdmissionPolicyBinding sre-quero-enforced-logging',
    'delete ValidatingAdmissionPolicy sre-quero-enforced-logging',
    'delete Deployment sre-quero/sre-quero',
    'delete ClusterRoleBinding sre-quero-reconciler',
    'delete ClusterRole sre-quero-reconciler',
    'release Service shop/web',
    'release Service shop/api',
    'release Service blog/blog',
    'delete ConfigMap shop/promtail-sidecar-config',
    'delete ConfigMap blog/promtail-sidecar-config',
    'delete Service sre-quero/sre-quero',
    'delete PodDisruptionBudget sre-quero/sre-quero',
    'delete RoleBinding sre-quero/sre-quero',
    'delete Role sre-quero/sre-quero',
    'delete ServiceAccount sre-quero/sre-quero',
    'delete ConfigMap sre-quero/sre-quero-settings',
    'delete ConfigMap sre-quero/sre-quero-promtail-template',
    'delete Secret sre-quero/sre-quero-tls',
    'delete Lease sre-quero/sre-quero-reconciler',
    'delete Namespace sre-quero',
  ]);
  t.strictSame(sleeps, [1000, 1000], 'waited for the webhook pods to stop before touching what their reconciler wrote');
  t.ok(lines.indexOf('waiting for 2 webhook pod(s) in sre-quero to stop') < lines.indexOf('the webhook pods in sre-quero have stopped'));

  t.strictSame(cluster.find('Service', 'web', 'shop')?.spec?.ports?.map((p) => p.name), ['http'], 'our port gone, the app’s stays');
  t.strictSame(cluster.find('Service', 'api', 'shop')?.spec?.ports?.map((p) => p.name), ['http', 'promtail-http'], 'a port the app owns too stays');
  t.strictSame(cluster.find('Service', 'plain', 'shop')?.spec?.ports?.map((p) => p.name), ['http'], 'untouched');
  t.strictSame(cluster.find('Service', 'lonely', 'shop')?.spec?.ports?.map((p) => p.name), ['promtail-http'], 'a Service with only our port keeps it (422)');
  t.ok(cluster.find('ConfigMap', 'team-logging', 'shop'), 'a team’s ConfigMap stays');
  t.strictSame(cluster.names('Namespace'), ['blog', 'shop', 'sre-quero-canary']);
  t.strictSame(
    cluster.names('ConfigMap'),
    ['shop/team-logging', 'sre-quero-canary/canary-sre-quero-promtail-template', 'sre-quero-canary/canary-sre-quero-settings', 'sre-quero-canary/kube-root-ca.crt', 'sre-quero/kube-root-ca.crt'],
    'Kubernetes’ own ConfigMap goes with the namespace',
  );
  t.strictSame(cluster.names('MutatingWebhookConfiguration'), ['canary-sre-quero'], 'the other install is untouched');
  t.strictSame(cluster.names('Secret'), ['sre-quero-canary/canary-sre-quero-tls', 'sre-quero-canary/sh.helm.release.v1.x.v1', 'sre-quero/sh.helm.release.v1.x.v1'], 'Secrets it does not know stay');

  t.match(lines, [
    'deleted MutatingWebhookConfiguration sre-quero',
    'deleted ValidatingAdmissionPolicyBinding sre-quero-enforced-logging',
  ]);
  t.ok(lines.includes('released port promtail-http (9080/TCP) of Service shop/web'));
  t.ok(lines.includes('port promtail-http (9080/TCP) of Service shop/api: kept, helm owns it too'));
  t.ok(lines.some((l) => /^port promtail-http \(9080\/TCP\) of Service shop\/lonely: kept, the API server refused to drop them \(422: .*\); a Service needs a port/.test(l)));
  t.ok(lines.includes('1 pod(s) injected by sre-quero keep their sidecar until they are recreated (namespaces: shop): kubectl rollout restart deployment/<name> -n <namespace> on their workloads removes it'));
  t.equal(lines.at(-1), 'deleted 18 object(s), released 2 Service port(s)');

  const again = await run(cluster);
  t.strictSame(cluster.log.length, 21, 'a second run writes nothing');
  t.strictSame(again.result.deleted, []);
  t.match(again.lines.at(-1), /^nothing to remove: no sre-quero install in namespace sre-quero/);
  t.ok(again.lines.includes('port promtail-http (9080/TCP) of Service shop/api: kept, helm owns it too') === false, 'ownership was released the first time');
});

t.test('--dry-run writes nothing and says what it would do', async (t) => {
  const entries = [...install('sre-quero'), ...applications()];
  const dry = new FakeCluster(entries);
  const { lines, result, sleeps } = await run(dry, { dryRun: true });
  t.strictSame(dry.log, [], 'nothing written');
  t.strictSame(dry.objects, structuredClone(entries), 'nothing changed');
  t.strictSame(sleeps, [], 'nothing waited for');
  t.ok(lines.every((line) => !line.startsWith('deleted') && !line.startsWith('released')));
  t.ok(lines.includes('would delete MutatingWebhookConfiguration sre-quero'));
  t.ok(lines.includes('would release port promtail-http (9080/TCP) of Service shop/web'));
  t.match(lines.at(-1), /^dry run: would delete 18 object\(s\), would release 3 Service port\(s\)$/);

  const real = new FakeCluster(entries);
  const done = await run(real);
  t.strictSame(result.deleted, done.result.deleted, 'the same objects as the real run');
});

t.test('a second install (prefixed, reconciler off, in a namespace Helm made) next to one that reconciles', async (t) => {
  const cluster = new FakeCluster([...install('sre-quero'), ...install('canary', { prefix: 'canary-', reconciler: false, helm: true, certManager: true }), ...applications()]);
  const { lines } = await run(cluster, { namespace: 'canary' });
  t.strictSame(cluster.log, [
    'delete MutatingWebhookConfiguration canary-sre-quero',
    'delete ValidatingAdmissionPolicyBinding canary-sre-quero-enforced-logging',
    'delete ValidatingAdmissionPolicy canary-sre-quero-enforced-logging',
    'delete Deployment canary/canary-sre-quero',
    'delete ClusterRoleBinding canary-sre-quero-reconciler',
    'delete ClusterRole canary-sre-quero-reconciler',
    'delete Service canary/canary-sre-quero',
    'delete PodDisruptionBudget canary/canary-sre-quero',
    'delete RoleBinding canary/canary-sre-quero',
    'delete Role canary/canary-sre-quero',
    'delete ServiceAccount canary/canary-sre-quero',
    'delete ConfigMap canary/canary-sre-quero-settings',
    'delete ConfigMap canary/sre-quero-promtail-template',
    'delete Certificate canary/canary-sre-quero-ca',
    'delete Certificate canary/canary-sre-quero',
    'delete Issuer canary/canary-sre-quero-ca',
    'delete Secret canary/canary-sre-quero-tls',
    'delete Secret canary/canary-sre-quero-ca',
  ], 'cert-manager’s Certificates before their Secrets (or it would issue them again)');
  t.ok(lines.some((l) => l.startsWith('reconciled Service ports and ConfigMaps: kept, the sre-quero install in namespace sre-quero still reconciles them')));
  t.ok(lines.includes('Namespace canary: kept, sre-quero did not create it (no app.kubernetes.io/name=sre-quero label); delete it yourself if nothing else lives there'));
  t.strictSame(cluster.names('MutatingWebhookConfiguration'), ['sre-quero'], 'the first install is untouched');
  t.strictSame(cluster.names('ValidatingAdmissionPolicy'), ['sre-quero-enforced-logging']);
  t.strictSame(cluster.names('Deployment'), ['sre-quero/sre-quero']);
  t.ok(cluster.find('ConfigMap', 'promtail-sidecar-config', 'shop'), 'what the first install’s reconciler keeps stays');

  t.test('--app-namespaces: only the namespaces it selects are cleaned', async (t) => {
    const scoped = new FakeCluster([...install('sre-quero'), ...install('canary', { prefix: 'canary-', reconciler: false }), ...applications()]);
    await run(scoped, { namespace: 'canary', appNamespaces: 'team=blog' });
    t.ok(scoped.log.includes('release Service blog/blog') && scoped.log.includes('delete ConfigMap blog/promtail-sidecar-config'));
    t.notOk(scoped.log.some((line) => line.includes(' shop/')), 'nothing in shop');
  });
});

t.test('the webhook pods that do not stop in time: a warning, and the rest goes on', async (t) => {
  const cluster = new FakeCluster([...install('sre-quero'), ...applications()]);
  cluster.podsLinger = 1000;
  const { lines, sleeps } = await run(cluster, { stopTimeoutMs: 3000 });
  t.strictSame(sleeps, [1000, 1000, 1000]);
  t.ok(lines.includes('warning: 2 webhook pod(s) in sre-quero still running after 3 s; going on (run uninstall again once they are gone if their reconciler put something back)'));
  t.ok(cluster.log.includes('delete Namespace sre-quero'));
});

t.test('a refused call stops with SQ_UNINSTALL_FAILED naming the step; running it again finishes', async (t) => {
  const cluster = new FakeCluster([...install('sre-quero'), ...applications()]);
  cluster.failOn = 'delete ClusterRole sre-quero-reconciler';
  const failed = run(cluster);
  await t.rejects(failed, UninstallFailedError);
  await t.rejects(failed, { code: 'SQ_UNINSTALL_FAILED', message: /^deleting ClusterRole sre-quero-reconciler: delete ClusterRole sre-quero-reconciler: 403 forbidden; nothing after this step was done/ });
  t.notOk(cluster.log.some((line) => line.startsWith('release')), 'stopped there');
  cluster.failOn = undefined;
  await run(cluster);
  t.strictSame(cluster.log.slice(-3), ['delete Secret sre-quero/sre-quero-tls', 'delete Lease sre-quero/sre-quero-reconciler', 'delete Namespace sre-quero']);
  t.strictSame(cluster.names('MutatingWebhookConfiguration'), []);
  t.strictSame(cluster.names('ClusterRole'), []);
});

t.test('runsReconciler: what a webhook Deployment says of its reconciler', async (t) => {
  const deployment = (container: { args?: string[]; env?: { name: string; value?: string }[] }, replicas = 2): KubeObject => ({ metadata: { name: 'x' }, spec: { replicas, template: { spec: { containers: [container] } } } });
  t.ok(runsReconciler(deployment({ args: ['serve'] })));
  t.notOk(runsReconciler(deployment({ env: [{ name: 'SRE_QUERO_RECONCILER', value: 'off' }] })));
  t.notOk(runsReconciler(deployment({ args: ['serve', '--reconciler', 'off'] })));
  t.notOk(runsReconciler(deployment({ args: ['serve', '--reconciler=off'] })));
  t.ok(runsReconciler(deployment({ args: ['serve', '--reconciler', 'on'], env: [{ name: 'SRE_QUERO_RECONCILER', value: 'off' }] })), 'the flag wins, as in serve');
  t.notOk(runsReconciler(deployment({ args: ['serve'] }, 0)), 'scaled to zero');
});

t.test('the command: flags and exit codes', async (t) => {
  const dir = tempDir('uninstall');
  const cli = async (argv: string[]) => {
    let stdout = '';
    let stderr = '';
    const code = await main(argv, { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s), readStdin: () => '' });
    return { code, stdout, stderr };
  };
  const bad = await cli(['uninstall', '--namespace', 'Not_A_Namespace']);
  t.equal(bad.code, 2);
  t.match(bad.stderr, /^sre-quero: --namespace must be a namespace name\n\nusage:/);
  t.equal((await cli(['uninstall', '--app-namespaces', ' '])).code, 2);
  t.equal((await cli(['uninstall', '--force'])).code, 2, 'unknown flag');
  const missing = await cli(['uninstall', '--kubeconfig', join(dir, 'none')]);
  t.equal(missing.code, 2);
  t.match(missing.stderr, /SQ_KUBECONFIG_INVALID: kubeconfig --kubeconfig .*none: cannot be read: no such file/);
  await t.rejects(runUninstall([], {}, () => undefined), UsageError, 'no cluster at all');
  t.match((await cli(['uninstall', '--help'])).stdout, /uninstall \[--namespace sre-quero\] \[--kubeconfig <file>\] \[--dry-run\]/);

  // A server that is not there: the first call fails, exit 1 with the code.
  const kubeconfig = join(dir, 'unreachable');
  writeFileSync(kubeconfig, kubeconfigFor('https://127.0.0.1:1'));
  const unreachable = await cli(['uninstall', '--kubeconfig', kubeconfig]);
  t.equal(unreachable.code, 1);
  t.match(unreachable.stderr, /^sre-quero uninstall: SQ_UNINSTALL_FAILED: finding the sre-quero install in namespace sre-quero: GET \/apis\/admissionregistration\.k8s\.io\/v1\/mutatingwebhookconfigurations\?.*ECONNREFUSED/);

  // Against a fake: it runs, prints, exits 0.
  const cluster = new FakeCluster(install('elsewhere'));
  const printed: string[] = [];
  const result = await runUninstall(['--kubeconfig', kubeconfig, '-n', 'elsewhere', '--dry-run'], {}, (line) => printed.push(line), () => cluster);
  t.equal(result.deleted.length, 16);
  t.equal(printed.at(-1), 'dry run: would delete 16 object(s), would release 0 Service port(s)');
});

function kubeconfigFor(server: string): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'c', cluster: { server, 'insecure-skip-tls-verify': true } }],
    users: [{ name: 'u', user: { token: 'secret-token' } }],
    contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
    'current-context': 'x',
  });
}

t.test('api.ts: the REST calls, against a fake API server', async (t) => {
  const seen: { method: string; url: string; auth: string | undefined; type: string | undefined; body: string }[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      seen.push({ method: req.method as string, url: req.url as string, auth: req.headers.authorization, type: req.headers['content-type'], body });
      const reply = (status: number, json: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(json));
      const url = new URL(req.url as string, 'http://x');
      if (url.pathname === '/apis/cert-manager.io/v1/namespaces/ns/certificates') return reply(404, { message: 'the server could not find the requested resource' });
      if (url.pathname === '/api/v1/configmaps') {
        return url.searchParams.get('continue') === null
          ? reply(200, { items: [{ metadata: { name: 'a' } }], metadata: { continue: 'next' } })
          : reply(200, { items: [{ metadata: { name: 'b' } }], metadata: {} });
      }
      if (url.pathname === '/api/v1/namespaces/ns/secrets/there') return req.method === 'DELETE' ? reply(200, { kind: 'Status' }) : reply(200, { metadata: { name: 'there' } });
      if (url.pathname === '/apis/rbac.authorization.k8s.io/v1/clusterroles') return reply(403, { message: 'clusterroles is forbidden' });
      if (url.pathname === '/api/v1/namespaces/ns/services/web') return reply(200, { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' } });
      return reply(404, { message: 'not found' });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const kc = new KubeConfig();
  kc.loadFromString(kubeconfigFor(`http://127.0.0.1:${(server.address() as AddressInfo).port}`));
  const api = uninstallApi(kc);

  t.strictSame((await api.list('ConfigMap', { labelSelector: 'app.kubernetes.io/managed-by=sre-quero' })).map((o) => o.metadata.name), ['a', 'b'], 'every page');
  t.equal(seen[0]?.url, '/api/v1/configmaps?limit=500&labelSelector=app.kubernetes.io%2Fmanaged-by%3Dsre-quero');
  t.equal(seen[1]?.url, '/api/v1/configmaps?limit=500&labelSelector=app.kubernetes.io%2Fmanaged-by%3Dsre-quero&continue=next');
  t.equal(seen[0]?.auth, 'Bearer secret-token', 'the kubeconfig’s credentials');
  t.strictSame(await api.list('Certificate', { namespace: 'ns' }), [], 'a kind the cluster does not serve lists as none');
  await t.rejects(api.list('ClusterRole'), { message: 'list ClusterRole: 403 clusterroles is forbidden' });
  t.equal((await api.get('Secret', 'there', 'ns'))?.metadata.name, 'there');
  t.equal(await api.get('Secret', 'gone', 'ns'), undefined);
  t.equal(await api.remove('Secret', 'there', 'ns'), true);
  t.match(JSON.parse(seen.at(-1)?.body ?? '{}'), { kind: 'DeleteOptions', propagationPolicy: 'Background' });
  t.equal(await api.remove('Secret', 'gone', 'ns'), false, '404: gone already');
  t.equal(seen.filter((s) => s.method === 'DELETE').at(-1)?.url, '/api/v1/namespaces/ns/secrets/gone');

  t.strictSame(await api.releaseServicePorts('ns', 'web'), { ok: true });
  const apply = seen.at(-1);
  t.equal(apply?.method, 'PATCH');
  t.match(apply?.url, /^\/api\/v1\/namespaces\/ns\/services\/web\?(?=.*fieldManager=sre-quero)(?=.*force=false)/);
  t.equal(apply?.type, 'application/apply-patch+yaml', 'server-side apply');
  t.strictSame(JSON.parse(apply?.body ?? '{}'), { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'ns' } }, 'no ports: the field manager releases its own');
});
