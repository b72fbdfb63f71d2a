import { join } from 'node:path';
import t from 'tap';
import { parse } from 'yaml';
import { writeKubeconfig } from '../cluster/credentials.js';
import type { Json } from '../helpers/reviews.js';
import { tempDir } from '../helpers/temp-dir.js';
import { hasSidecar, pod, waitFor } from './harness.js';
import { namespaceFor, nodeClusterOrSkip } from './node-harness.js';

// `sre-quero explain`, live and offline, against sre-quero as deploy/
// installs it (its MutatingWebhookConfiguration, its settings ConfigMap):
// an injected pod, a skipped pod and a refused Deployment (whose pods never
// exist), each with its reason code; the refusal's Warning Event on the
// Deployment (the webhook resolves it through the ReplicaSet, after
// answering); and the coded errors: a missing pod, no kubeconfig, a user
// without rights. The command runs in-process (main), as the CLI runs it.

const cluster = nodeClusterOrSkip();

if (cluster !== undefined) {
  const { api, kubectl } = cluster;
  const { main } = await import('../../src/cli.js');
  const run = async (argv: string[], stdin = '') => {
    const out = { stdout: '', stderr: '' };
    const code = await main(argv, { stdout: (text) => (out.stdout += text), stderr: (text) => (out.stderr += text), readStdin: () => stdin });
    return { code, ...out };
  };
  const live = (argv: string[]) => run([...argv, '--kubeconfig', cluster.kubeconfig]);
  // Stored, never run: bound to a node that does not exist (the image is not pulled here).
  const stored = (name: string, annotations: Record<string, string>) => pod(name, annotations, { nodeName: 'no-such-node' });
  const create = async (namespace: string, body: Json) => {
    const reply = await api('POST', `/api/v1/namespaces/${namespace}/pods`, body);
    if (reply.status !== 201) throw new Error(`creating pod ${body.metadata.name}: ${reply.status} ${JSON.stringify(reply.body)}`);
    return reply.body as Json;
  };

  const plain = await namespaceFor(cluster, 'explain-plain');
  const enabled = await namespaceFor(cluster, 'explain-enabled', { 'logging.sre-quero/injection': 'enabled' });

  t.test('an injected pod: the sidecar it carries, the entry called, and today: already injected', async (t) => {
    t.ok(hasSidecar(await create(plain, stored('injected', { 'logging.sre-quero/sidecar': 'true' }))), 'injected by the installed webhook');
    const result = await live(['explain', 'pod', 'injected', '-n', plain]);
    t.equal(result.code, 0, result.stderr);
    t.match(result.stdout, new RegExp(`^pod ${plain}/injected\\n  now: injected \\(agent promtail, sidecar mode classic, image [^)]+\\)\\n`));
    t.match(result.stdout, `\n  namespace ${plain}: no logging.sre-quero/injection label\n  webhook called: annotated.injector.sre-quero.io (mode annotated)\n`);
    t.match(result.stdout, '\n  settings: ConfigMap sre-quero/sre-quero-settings\n');
    t.match(result.stdout, '\n  explained: the pod as stored (nothing recreates it from a template)\n  decision: skipped (already_injected)\n');
    t.notMatch(result.stdout, /note:/, 'its image is the one the settings give');
  });

  t.test('a skipped pod: opted out in an enabled namespace; offline with the same manifest, the same answer', async (t) => {
    const body = stored('opted-out', { 'logging.sre-quero/sidecar': 'false' });
    t.notOk(hasSidecar(await create(enabled, body)), 'left alone by the installed webhook');
    const result = await live(['explain', 'pod', 'opted-out', '-n', enabled]);
    t.equal(result.code, 0, result.stderr);
    t.match(result.stdout, '\n  now: not injected (no sidecar and status annotation)\n');
    t.match(result.stdout, `\n  namespace ${enabled}: logging.sre-quero/injection=enabled\n  webhook called: enabled.injector.sre-quero.io (mode enabled)\n`);
    t.match(result.stdout, '\n  decision: skipped (opted_out)\n    why: the pod template opts out (logging.sre-quero/sidecar: "false")\n');
    const offline = await run(['explain', '--mode', 'enabled', '-f', '-'], JSON.stringify(body));
    t.equal(offline.code, 0);
    t.match(offline.stdout, /^document 1 \(Pod opted-out\): skipped \(opted_out\) in a namespace labelled logging\.sre-quero\/injection=enabled/);
  });

  t.test('a refused Deployment: no pod exists; explain deployment says why, offline says the same, and the Event is on the Deployment', async (t) => {
    const manifest = parse(`
apiVersion: apps/v1
kind: Deployment
metadata: {name: refused, namespace: ${plain}}
spec:
  replicas: 1
  selector: {matchLabels: {app: refused}}
  template:
    metadata:
      labels: {app: refused}
      annotations: {logging.sre-quero/sidecar: "true", logging.sre-quero/log-path: /etc}
    spec:
      containers: [{name: app, image: ${cluster.busyboxImage}, imagePullPolicy: Never, command: [sleep, "3600"]}]
`) as Json;
    const applied = await kubectl(['apply', '-f', '-'], { input: JSON.stringify(manifest) });
    t.equal(applied.status, 0, 'kubectl apply', { stderr: applied.stderr });

    const result = await live(['explain', 'deployment', 'refused', '-n', plain]);
    t.equal(result.code, 0, result.stderr);
    t.match(result.stdout, `deployment ${plain}/refused\n`);
    t.match(result.stdout, '\n  explained: the pod template of Deployment refused\n  decision: refused (invalid_annotation)\n    why: annotation logging.sre-quero/log-path: "/etc" is not valid');
    t.match(result.stdout, `\n  note: the webhook records this refusal as a Warning Event (LoggingSidecarRefused): kubectl get events -n ${plain} --field-selector reason=LoggingSidecarRefused\n`);

    const fetched = await kubectl(['get', 'deployment', 'refused', '-n', plain, '-o', 'yaml']);
    const offline = await run(['explain', '-f', '-'], fetched.stdout);
    t.equal(offline.code, 0);
    t.match(offline.stdout, /^document 1 \(Deployment refused\): refused \(invalid_annotation\)/);

    const refusals = async () =>
      ((await api('GET', `/api/v1/namespaces/${plain}/events?fieldSelector=${encodeURIComponent('reason=LoggingSidecarRefused')}`)).body.items as Json[]).filter(
        (e) => e.involvedObject.name === 'refused',
      );
    const [event] = await waitFor('the refusal Event on the Deployment', async () => ((await refusals()).length > 0 ? refusals() : undefined), 60_000);
    t.match(event, {
      type: 'Warning',
      involvedObject: { kind: 'Deployment', name: 'refused', namespace: plain },
      source: { component: 'sre-quero' },
      message: new RegExp(`^sre-quero refused a pod of this Deployment \\(invalid_annotation\\): annotation logging\\.sre-quero/log-path: "/etc" is not valid.* \\(sre-quero explain deployment refused -n ${plain} says more\\)$`),
    });
    // The ReplicaSet keeps retrying; each replica tells at most once per 10 minutes.
    await new Promise((resolve) => setTimeout(resolve, 10_000));
    t.ok((await refusals()).length <= 2, 'rate-limited: at most one Event per webhook replica');
    const deployment = await kubectl(['describe', 'deployment', 'refused', '-n', plain]);
    t.match(deployment.stdout, /LoggingSidecarRefused/, 'kubectl describe shows it');
  });

  t.test('coded errors, exit 2, no stack: a missing pod, no kubeconfig, a user who may not read pods', async (t) => {
    const missing = await live(['explain', 'pod', 'nope', '-n', plain]);
    t.equal(missing.code, 2);
    t.equal(missing.stderr, `sre-quero: SQ_OBJECT_NOT_FOUND: pod nope in namespace ${plain} not found (pods "nope" not found)\n`);

    const dir = tempDir('explain-live');
    const none = await run(['explain', 'pod', 'injected', '-n', plain, '--kubeconfig', join(dir, 'missing')]);
    t.equal(none.code, 2);
    t.match(none.stderr, /^sre-quero: SQ_KUBECONFIG_INVALID: kubeconfig --kubeconfig .*: cannot be read: no such file\n$/);

    // A ServiceAccount without any role, and a token for it.
    t.equal((await api('POST', `/api/v1/namespaces/${plain}/serviceaccounts`, { metadata: { name: 'nobody' } })).status, 201);
    const token = await api('POST', `/api/v1/namespaces/${plain}/serviceaccounts/nobody/token`, { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 600 } });
    t.equal(token.status, 201, 'TokenRequest', { body: token.body });
    const kubeconfig = join(dir, 'nobody.kubeconfig');
    writeKubeconfig(kubeconfig, { name: 'nobody', server: cluster.server, caFile: cluster.caFile, token: token.body.status.token });
    const forbidden = await run(['explain', 'pod', 'injected', '-n', plain, '--kubeconfig', kubeconfig]);
    t.equal(forbidden.code, 2);
    t.match(forbidden.stderr, new RegExp(`^sre-quero: SQ_READ_FORBIDDEN: not allowed to read pod injected in namespace ${plain} \\(.*forbidden.*\\); check with: kubectl auth can-i get pods -n ${plain}\\n$`));
    t.notMatch(forbidden.stderr, /\n\s+at /, 'no stack trace');
  });
}
