import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { main } from '../../src/cli.js';
import { findReadCluster } from '../../src/config.js';
import { explainReads, getJsonWith, type GetJson } from '../../src/explain/cluster-reads.js';
import { runLiveExplain } from '../../src/explain-command.js';
import { kubeConfigFor } from '../../src/reconciler/kube.js';
import { deployment, FakeCluster, template } from '../helpers/fake-cluster.js';
import { tempDir } from '../helpers/temp-dir.js';

// The live explain commands: their command line, where they find a cluster,
// and the reads' I/O edge (an HTTP API server of this test's own), each
// failure a coded error with exit 2, never a stack.

function io() {
  const out = { stdout: '', stderr: '' };
  return { out, io: { stdout: (text: string) => (out.stdout += text), stderr: (text: string) => (out.stderr += text), readStdin: () => '' } };
}

function fakeCluster(): FakeCluster {
  const fake = new FakeCluster().namespaceOf('shop', { 'logging.sre-quero/injection': 'enabled' }).namespaceOf('default');
  deployment(fake, 'shop', 'web', template());
  return fake;
}

t.test('explain pod / deployment / cluster: what they print; the namespace from -n, else the context, else default', async (t) => {
  const fake = fakeCluster();
  fake.add('pod', 'default', { metadata: { name: 'p' }, spec: template().spec });
  const connected: (string | undefined)[] = [];
  const connect = (kubeconfig: string | undefined, contextNamespace?: string) => {
    connected.push(kubeconfig);
    return { reads: fake, contextNamespace };
  };
  const { out, io: capture } = io();
  t.equal(await runLiveExplain(['pod', 'web-7d9f-abc', '-n', 'shop', '--kubeconfig', '/k'], capture, {}, (k) => connect(k)), 0);
  t.match(out.stdout, /^pod shop\/web-7d9f-abc\n  now: not injected/);
  t.equal(await runLiveExplain(['deploy', 'web'], capture, {}, (k) => connect(k, 'shop')), 0, "a short name; the context's namespace");
  t.match(out.stdout, /\ndeployment shop\/web\n/);
  t.equal(await runLiveExplain(['po', 'p'], capture, {}, (k) => connect(k)), 0);
  t.match(out.stdout, /\npod default\/p\n/, 'default when the context names none');
  t.equal(await runLiveExplain(['cluster', '--namespace-of-install', 'sre-quero'], capture, {}, (k) => connect(k)), 0);
  t.match(out.stdout, /\nnamespace shop \(logging\.sre-quero\/injection=enabled\): 1 escaped pod\n/);
  t.same(connected, ['/k', undefined, undefined, undefined]);
});

t.test('the command line: usage errors exit 2 with the usage text, through main()', async (t) => {
  const cases: [string[], RegExp][] = [
    [['explain', 'pods'], /^sre-quero: explain pods needs exactly one name: explain pods NAME -n NAMESPACE\n\nusage:/],
    [['explain', 'pod', 'a', 'b'], /needs exactly one name/],
    [['explain', 'service', 'web'], /explain needs -f <file>, cluster, or a kind and a name \(pod, deployment, statefulset, daemonset, replicaset, job, cronjob\); got "service"/],
    [['explain', 'cluster', 'shop'], /explain cluster takes no name \(got "shop"\); -n <namespace> limits it to one namespace/],
    [['explain', 'pod', 'a', '--mode', 'enabled'], /^sre-quero: Unknown option '--mode'/],
  ];
  for (const [argv, message] of cases) {
    const { out, io: capture } = io();
    t.equal(await main(argv, capture), 2, argv.join(' '));
    t.match(out.stderr, message, argv.join(' '));
  }
});

t.test('no cluster to read, or an unreadable kubeconfig: SQ_KUBECONFIG_INVALID, exit 2, no stack', async (t) => {
  const dir = tempDir('explain');
  const home = join(dir, 'home');
  t.throws(() => findReadCluster(undefined, {}, () => false, home), { code: 'SQ_KUBECONFIG_INVALID', message: /no --kubeconfig, no KUBECONFIG and no ~\/\.kube\/config, and not in a pod/ });
  t.same(findReadCluster(undefined, {}, (path) => path === join(home, '.kube', 'config'), home), { kind: 'kubeconfig', path: join(home, '.kube', 'config'), from: 'home' });
  t.same(findReadCluster(undefined, { KUBECONFIG: '/e' }, () => true, home), { kind: 'kubeconfig', path: '/e', from: 'environment' });
  t.same(findReadCluster('/f', { KUBECONFIG: '/e' }, () => true, home), { kind: 'kubeconfig', path: '/f', from: 'flag' });
  t.same(findReadCluster(undefined, { KUBERNETES_SERVICE_HOST: '10.0.0.1' }, (path) => path.endsWith('/token'), home), { kind: 'in-cluster' });
  const missing = join(dir, 'missing');
  const { out, io: capture } = io();
  t.equal(await main(['explain', 'pod', 'web', '--kubeconfig', missing], capture), 2);
  t.equal(out.stderr, `sre-quero: SQ_KUBECONFIG_INVALID: kubeconfig --kubeconfig ${missing}: cannot be read: no such file\n`);
  const homeConfig = join(dir, 'config');
  writeFileSync(homeConfig, '{"apiVersion":"v1","kind":"Config","clusters":[],"contexts":[],"users":[]}');
  t.throws(() => kubeConfigFor({ kind: 'kubeconfig', path: homeConfig, from: 'home' }), { message: `kubeconfig ${homeConfig}: names no cluster to use (current context "(none)")` });
});

/** An API server of the test's own (plain HTTP): answers by path, records what it was asked. */
async function apiServer(answer: (path: string) => [number, unknown]) {
  const asked: { path: string; authorization: string | undefined }[] = [];
  const server = createServer((req, res) => {
    asked.push({ path: req.url ?? '', authorization: req.headers.authorization });
    const [status, body] = answer(req.url ?? '');
    res.writeHead(status, { 'content-type': 'application/json' }).end(typeof body === 'string' ? body : JSON.stringify(body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const dir = tempDir('explain-api');
  const kubeconfig = join(dir, 'kubeconfig');
  const server_ = `http://127.0.0.1:${(server.address() as AddressInfo).port}/prefix`;
  writeFileSync(
    kubeconfig,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      // client-node sends a token over plain HTTP only when told TLS is not verified.
      clusters: [{ name: 'c', cluster: { server: server_, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'u', user: { token: 'secret-token' } }],
      contexts: [{ name: 'c', context: { cluster: 'c', user: 'u', namespace: 'shop' } }],
      'current-context': 'c',
    }),
  );
  return { asked, kubeconfig };
}

t.test('the reads over HTTP: plain JSON, the token, a server path, paging; explain pod end to end', async (t) => {
  const fake = fakeCluster();
  const { asked, kubeconfig } = await apiServer((path) => {
    const [route, query = ''] = path.replace(/^\/prefix/, '').split('?');
    const params = new URLSearchParams(query);
    const object = (kind: string, ns: string, name: string) => fake.objects.get(`${kind}/${ns}/${name}`);
    let m: RegExpExecArray | null;
    if ((m = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)$/.exec(route as string))) return [200, object('pod', m[1] as string, m[2] as string)];
    if ((m = /^\/apis\/apps\/v1\/namespaces\/([^/]+)\/replicasets\/([^/]+)$/.exec(route as string))) return [200, object('replicaset', m[1] as string, m[2] as string)];
    if ((m = /^\/api\/v1\/namespaces\/([^/]+)$/.exec(route as string))) return [200, { metadata: { name: m[1], labels: fake.namespaceLabels.get(m[1] as string) } }];
    if (route === '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations') {
      // Two pages, to follow `continue`.
      return params.get('continue') === null ? [200, { items: [], metadata: { continue: 'page-2' } }] : [200, { items: fake.webhooks, metadata: {} }];
    }
    if (route === '/api/v1/namespaces/sre-quero/configmaps/sre-quero-settings') return [404, { message: 'configmaps "sre-quero-settings" not found' }];
    return [404, { message: `no ${route}` }];
  });
  const { out, io: capture } = io();
  t.equal(await main(['explain', 'pod', 'web-7d9f-abc', '--kubeconfig', kubeconfig], capture), 0, out.stderr);
  t.match(out.stdout, /^pod shop\/web-7d9f-abc\n  now: not injected[\s\S]*\n  settings: the built-in defaults: ConfigMap sre-quero\/sre-quero-settings not found\n[\s\S]*\n  decision: injected \(namespace_enabled\)\n/);
  t.ok(asked.every((each) => each.authorization === 'Bearer secret-token'), "the kubeconfig's token on every read");
  t.ok(asked.every((each) => each.path.startsWith('/prefix/')), "after the server's own path");
  t.same(asked.map((each) => each.path), [
    '/prefix/api/v1/namespaces/shop/pods/web-7d9f-abc',
    '/prefix/api/v1/namespaces/shop',
    '/prefix/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations?limit=500',
    '/prefix/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations?limit=500&continue=page-2',
    '/prefix/apis/apps/v1/namespaces/shop/replicasets/web-7d9f',
    '/prefix/api/v1/namespaces/sre-quero/configmaps/sre-quero-settings',
    // Its owner, for the command that replaces the pod.
    '/prefix/apis/apps/v1/namespaces/shop/replicasets/web-7d9f',
  ]);
});

t.test('each failed read is a coded error naming what, and how to check: through main(), exit 2, no stack', async (t) => {
  const answers: Record<string, [number, unknown]> = {
    '/prefix/api/v1/namespaces/shop/pods/missing': [404, { kind: 'Status', message: 'pods "missing" not found' }],
    '/prefix/api/v1/namespaces/shop/pods/secret': [403, { kind: 'Status', message: 'pods "secret" is forbidden: User "dev" cannot get resource "pods"' }],
    '/prefix/api/v1/namespaces/shop/pods/broken': [500, 'etcd is on fire'],
  };
  const { kubeconfig } = await apiServer((path) => answers[path] ?? [401, { message: 'Unauthorized' }]);
  const expect: [string, string][] = [
    ['missing', 'sre-quero: SQ_OBJECT_NOT_FOUND: pod missing in namespace shop not found (pods "missing" not found)\n'],
    ['secret', 'sre-quero: SQ_READ_FORBIDDEN: not allowed to read pod secret in namespace shop (pods "secret" is forbidden: User "dev" cannot get resource "pods"); check with: kubectl auth can-i get pods -n shop\n'],
    ['broken', 'sre-quero: SQ_CLUSTER_READ_FAILED: cannot read pod broken in namespace shop: 500 etcd is on fire\n'],
    ['other', "sre-quero: SQ_CLUSTER_READ_FAILED: cannot read pod other in namespace shop: 401 Unauthorized: the API server refused the kubeconfig's credentials\n"],
  ];
  for (const [name, message] of expect) {
    const { out, io: capture } = io();
    t.equal(await main(['explain', 'pod', name, '-n', 'shop', '--kubeconfig', kubeconfig], capture), 2, name);
    t.equal(out.stderr, message, name);
  }
  const { out, io: capture } = io();
  t.equal(await main(['explain', 'cluster', '--kubeconfig', kubeconfig], capture), 2);
  t.match(out.stderr, /^sre-quero: SQ_CLUSTER_READ_FAILED: cannot read the mutating webhook configurations: 401/);
});

t.test('an API server that does not answer, and answers the reads do not expect', async (t) => {
  const refused: GetJson = async () => {
    throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
  };
  await t.rejects(explainReads(refused).namespace('shop'), { code: 'SQ_CLUSTER_READ_FAILED', message: 'cannot read namespace shop: the API server did not answer (ECONNREFUSED)' });
  const odd: GetJson = async (path) => (path.includes('deployments') ? { status: 200, body: { metadata: {} } } : { status: 200, body: { items: undefined, metadata: {} } });
  const reads = explainReads(odd);
  await t.rejects(reads.object('deployment', 'shop', 'web'), { code: 'SQ_CLUSTER_READ_FAILED', message: 'cannot read deployment web in namespace shop: it has no pod template' });
  t.same(await reads.namespaces('x=y'), []);
  t.same(await reads.runningPods('shop'), []);
  t.same(await reads.runningInjectedPods(), []);
  t.same(await explainReads(async () => ({ status: 200, body: {} })).configMapData('ns', 'cm'), {}, 'a ConfigMap without data');
  t.same(await explainReads(async () => ({ status: 200, body: { metadata: {} } })).namespace('shop'), { name: 'shop', labels: {} });
  t.equal(await explainReads(async () => ({ status: 200, body: { metadata: {} } })).controllerOf('Job', 'shop', 'j'), undefined);
  const dead = getJsonWith(kubeConfigFor({ kind: 'kubeconfig', path: (await apiServer(() => [200, {}])).kubeconfig, from: 'flag' }));
  t.match(await dead('/api/v1/namespaces/x'), { status: 200 });
});
