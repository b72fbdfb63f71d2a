import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { main } from '../../src/cli.js';
import { tempDir } from '../helpers/temp-dir.js';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(argv: string[], stdin = ''): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, {
    stdout: (text) => (stdout += text),
    stderr: (text) => (stderr += text),
    readStdin: () => stdin,
  });
  return { code, stdout, stderr };
}

const golden = (name: string) => new URL(`../fixtures/golden/${name}`, import.meta.url).pathname;
const tempFile = (name: string, text: string): string => {
  const path = join(tempDir('cli'), name);
  writeFileSync(path, text);
  return path;
};

t.test('inject -f prints the injected manifests, and is idempotent on its own output', async (t) => {
  const first = await run(['inject', '-f', golden('deployment-annotated.yaml')]);
  t.equal(first.code, 0);
  t.equal(first.stderr, '');
  t.equal(first.stdout, readFileSync(golden('deployment-annotated.yaml.injected'), 'utf8'));
  const second = await run(['inject', '-f', tempFile('out.yaml', first.stdout)]);
  t.equal(second.code, 0);
  t.equal(second.stdout, first.stdout, 'running it again changes nothing');
});

t.test('inject -f - reads standard input; --mode enabled injects unannotated pods', async (t) => {
  const pod = 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n    - name: app\n      image: example/app:1\n';
  const annotatedOnly = await run(['inject', '-f', '-'], pod);
  t.equal(annotatedOnly.stdout, pod, 'default mode leaves an unannotated pod alone');
  const enabled = await run(['inject', '-f', '-', '--mode', 'enabled'], pod);
  t.equal(enabled.code, 0);
  t.match(enabled.stdout, /- name: promtail\n/);
});

t.test('warnings go to stderr, the manifests to stdout', async (t) => {
  const pod = 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations:\n    logging.sre-quero/sidecar: "true"\n    logging.sre-quero/colour: blue\nspec:\n  containers: [{name: app}]\n';
  const result = await run(['inject', '-f', '-'], pod);
  t.equal(result.code, 0);
  t.equal(result.stderr, 'warning: document 1 (Pod p): unknown annotation logging.sre-quero/colour is ignored\n');
  t.match(result.stdout, /name: promtail/);
});

t.test('a refused pod: message on stderr, exit 1, nothing on stdout', async (t) => {
  const manifests =
    'apiVersion: v1\nkind: Service\nmetadata: {name: fine}\n---\n' +
    'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n    metadata:\n      annotations:\n        logging.sre-quero/sidecar: "true"\n        logging.sre-quero/log-path: /var/log/../../etc\n    spec:\n      containers: [{name: web}]\n';
  const result = await run(['inject', '-f', tempFile('in.yaml', manifests)]);
  t.equal(result.code, 1);
  t.equal(result.stdout, '');
  t.match(result.stderr, /^sre-quero inject: document 2 \(Deployment web\): annotation logging\.sre-quero\/log-path: "\/var\/log\/\.\.\/\.\.\/etc" is not valid/);
});

t.test('unreadable input: exit 2 with the reason', async (t) => {
  const cases: [string[], string, RegExp][] = [
    [['inject', '-f', '/nonexistent/in.yaml'], '', /cannot read \/nonexistent\/in\.yaml/],
    [['inject', '-f', '-'], 'kind: [unclosed', /document 1: .*/],
    [['inject', '-f', '-'], 'just a string\n', /document 1: expected a Kubernetes object, got a scalar/],
    [['inject', '-f', '-'], 'apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: []}\n', /document 1 \(Pod p\): pod\.spec\.containers must be a non-empty list/],
    [['inject', '-f', '-', '--settings', '/nonexistent/settings.yaml'], '', /SQ_SETTINGS_UNREADABLE/],
  ];
  for (const [argv, stdin, message] of cases) {
    const result = await run(argv, stdin);
    t.equal(result.code, 2, `${argv.join(' ')}: exit code`);
    t.equal(result.stdout, '', 'nothing half-written');
    t.match(result.stderr, message);
  }
});

t.test('inject honours a settings file', async (t) => {
  const settings = tempFile('settings.yaml', 'image: grafana/promtail:3.5.8\nlogPath: /srv/app/logs\n');
  const pod = 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations: {logging.sre-quero/sidecar: "true"}\nspec:\n  containers: [{name: app}]\n';
  const result = await run(['inject', '-f', '-', '--settings', settings], pod);
  t.equal(result.code, 0);
  t.match(result.stdout, /image: grafana\/promtail:3\.5\.8/);
  t.match(result.stdout, /mountPath: \/srv\/app\/logs/);
});

t.test('usage errors: exit 2 and the usage text; no command is one (it does not serve)', async (t) => {
  for (const argv of [[], ['inject'], ['inject', '-f', 'x', '--mode', 'always'], ['frobnicate'], ['inject', '--nope']]) {
    const result = await run(argv);
    t.equal(result.code, 2, argv.join(' '));
    t.match(result.stderr, /usage: sre-quero <command>/);
  }
  const help = await run(['help']);
  t.equal(help.code, 0);
  t.match(help.stdout, /inject -f <file\|->/);
  t.match(help.stdout, /--tls-cert .* env SRE_QUERO_TLS_CERT/);
  t.match((await run([])).stderr, /^sre-quero: a command is needed\n\nusage:/);
});

t.test('--help on every command prints the usage and runs nothing; --version prints the version', async (t) => {
  for (const argv of [['serve', '--help'], ['reconcile', '-h'], ['inject', '--help'], ['certs', '--out', '/nonexistent', '--help'], ['serve', '--listen', 'nowhere', '--help']]) {
    const result = await run(argv);
    t.same([result.code, result.stderr], [0, ''], argv.join(' '));
    t.match(result.stdout, /^usage: sre-quero <command>/);
  }
  const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  for (const argv of [['--version'], ['version'], ['-v']]) t.same(await run(argv), { code: 0, stdout: `sre-quero ${version}\n`, stderr: '' }, argv.join(' '));
});

t.test('certs: a CA, a serving certificate for the Service, the Secret and the caBundle patch', async (t) => {
  const { X509Certificate } = await import('node:crypto');
  const { parseAllDocuments } = await import('yaml');
  const out = join(tempDir('certs'), 'generated');
  const result = await run(['certs', '--service', 'hook', '--namespace', 'infra', '--out', out, '--days', '30', '--ip', '127.0.0.1']);
  t.equal(result.code, 0, result.stderr);
  t.match(result.stdout, /wrote ca\.crt, tls\.crt, tls\.key, secret\.yaml, webhooks-ca-bundle\.yaml, validator-ca-bundle\.yaml, ca\.key to /);
  const ca = new X509Certificate(readFileSync(join(out, 'ca.crt')));
  const serving = new X509Certificate(readFileSync(join(out, 'tls.crt')));
  t.ok(ca.ca, 'ca.crt is a CA');
  t.ok(serving.checkIssued(ca) && serving.verify(ca.publicKey), 'tls.crt is signed by it');
  t.equal(serving.subjectAltName, 'DNS:hook, DNS:hook.infra, DNS:hook.infra.svc, DNS:hook.infra.svc.cluster.local, IP Address:127.0.0.1');
  const days = (Date.parse(serving.validTo) - Date.now()) / 86_400_000;
  t.ok(days > 29 && days <= 30, 'valid for --days');
  const caDays = (Date.parse(ca.validTo) - Date.now()) / 86_400_000;
  t.ok(caDays > 3649 && caDays <= 3650, 'the CA outlives it: --ca-days, 10 years by default');

  const [secret] = parseAllDocuments(readFileSync(join(out, 'secret.yaml'), 'utf8')).map((d) => d.toJS());
  t.match(secret, { kind: 'Secret', type: 'kubernetes.io/tls', metadata: { name: 'sre-quero-tls', namespace: 'infra', labels: { 'app.kubernetes.io/name': 'sre-quero' } } });
  t.equal(Buffer.from(secret.data['tls.crt'], 'base64').toString(), readFileSync(join(out, 'tls.crt'), 'utf8'));
  const caBundle = Buffer.from(readFileSync(join(out, 'ca.crt'))).toString('base64');
  const patches = ['webhooks-ca-bundle.yaml', 'validator-ca-bundle.yaml'].flatMap((file) => parseAllDocuments(readFileSync(join(out, file), 'utf8')).map((d) => d.toJS()));
  t.same(
    patches.map((p) => [p.kind, p.metadata.name, p.webhooks.map((w: { name: string; clientConfig: { caBundle: string } }) => [w.name, w.clientConfig.caBundle === caBundle])]),
    [
      ['MutatingWebhookConfiguration', 'sre-quero', [['annotated.injector.sre-quero.io', true], ['enabled.injector.sre-quero.io', true], ['enforced.injector.sre-quero.io', true]]],
      ['ValidatingWebhookConfiguration', 'sre-quero', [['enforced.validator.sre-quero.io', true]]],
    ],
  );
  const { statSync } = await import('node:fs');
  t.equal(statSync(join(out, 'tls.key')).mode & 0o777, 0o600, 'private key is not world-readable');

  // Re-issue from the same CA: the caBundle stays valid.
  const again = join(out, '..', 'again');
  t.equal((await run(['certs', '--out', again, '--ca-cert', join(out, 'ca.crt'), '--ca-key', join(out, 'ca.key')])).code, 0);
  t.ok(new X509Certificate(readFileSync(join(again, 'tls.crt'))).checkIssued(ca));

  // A certificate may not outlive the CA that signs it.
  const shortCa = join(out, '..', 'short-ca');
  t.equal((await run(['certs', '--out', shortCa, '--days', '30', '--ca-days', '30'])).code, 0);
  const outliving = await run(['certs', '--out', join(out, '..', 'outliving'), '--ca-cert', join(shortCa, 'ca.crt'), '--ca-key', join(shortCa, 'ca.key')]);
  t.equal(outliving.code, 2);
  t.match(outliving.stderr, /^sre-quero: SQ_CERT_OUTLIVES_CA: a certificate valid for 365 days would outlive its CA \(valid until .*, 29 days from now\): give --days 29 or less, or make a new CA/);
  t.notOk(existsSync(join(out, '..', 'outliving', 'tls.crt')), 'nothing written');
});

t.test('certs: bad arguments are usage errors', async (t) => {
  for (const argv of [['certs'], ['certs', '--out', '/tmp/x', '--days', '0'], ['certs', '--out', '/tmp/x', '--days', '30', '--ca-days', '10'], ['certs', '--out', '/tmp/x', '--service', 'Bad_Name'], ['certs', '--out', '/tmp/x', '--ca-cert', 'a']]) {
    const result = await run(argv);
    t.equal(result.code, 2, argv.join(' '));
    t.match(result.stderr, /sre-quero: .*\n\nusage:/);
  }
});

t.test('explain -f: injected, skipped and refused pod templates, each with its reason, why and what to change', async (t) => {
  const manifests = [
    'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n    metadata: {annotations: {logging.sre-quero/sidecar: "true"}}\n    spec: {containers: [{name: app, image: nginx}]}',
    'apiVersion: v1\nkind: Pod\nmetadata: {name: plain}\nspec: {containers: [{name: app, image: nginx}]}',
    'apiVersion: batch/v1\nkind: Job\nmetadata: {name: once}\nspec:\n  template:\n    metadata: {annotations: {logging.sre-quero/sidecar: "true"}}\n    spec: {restartPolicy: Never, containers: [{name: app, image: busybox}]}',
    'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: not-a-workload}',
  ].join('\n---\n');
  const result = await run(['explain', '-f', tempFile('explain.yaml', manifests)]);
  t.equal(result.code, 0, result.stderr);
  t.equal(result.stderr, '');
  const paragraphs = result.stdout.split('\n\n');
  t.equal(paragraphs.length, 3, 'one paragraph per pod template');
  t.match(paragraphs[0], /^document 1 \(Deployment web\): injected \(annotation_opt_in\) in a namespace without the injection label \(--mode annotated\)\n  why: the pod template asks for it \(logging\.sre-quero\/sidecar: "true"\)\n  change: to go without: remove the annotation or set logging\.sre-quero\/sidecar: "false"\n  agent: promtail, chosen by the settings \(agent\)$/);
  t.match(paragraphs[1], /^document 2 \(Pod plain\): skipped \(not_requested\) .*\n  why: the pod template does not ask for the sidecar.*\n  change: set logging\.sre-quero\/sidecar: "true" on the pod template, or label the namespace logging\.sre-quero\/injection=enabled$/);
  t.match(paragraphs[2], /^document 3 \(Job once\): refused \(needs_native_sidecar\) .*\n  why: restartPolicy Never \(a Job's pod\): a classic sidecar keeps running after the app exits/);

  const alloy = await run(['explain', '-f', '-'], 'apiVersion: v1\nkind: Pod\nmetadata: {name: a, annotations: {logging.sre-quero/sidecar: "true", logging.sre-quero/agent: alloy}}\nspec: {containers: [{name: app, image: nginx}]}\n');
  t.match(alloy.stdout, /\n  agent: alloy, chosen by the pod template's logging\.sre-quero\/agent annotation\n$/);
  const forbidden = await run(['explain', '-f', '-'], 'apiVersion: v1\nkind: Pod\nmetadata: {name: a, annotations: {logging.sre-quero/sidecar: "true", logging.sre-quero/agent: fluent-bit}}\nspec: {containers: [{name: app, image: nginx}]}\n');
  t.match(forbidden.stdout, /refused \(invalid_annotation\) .*\n  why: annotation logging\.sre-quero\/agent: "fluent-bit" is not valid; expected "promtail" or "alloy"\n/);

  const enabled = await run(['explain', '--mode', 'enabled', '-f', '-'], 'apiVersion: v1\nkind: Pod\nmetadata: {name: plain}\nspec: {containers: [{name: app, image: nginx}]}\n');
  t.match(enabled.stdout, /^document 1 \(Pod plain\): injected \(namespace_enabled\) in a namespace labelled logging\.sre-quero\/injection=enabled \(--mode enabled\)\n/);
  t.match((await run(['explain', '-f', '-'], 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n')).stdout, /^no pod templates found/);
  const unreadable = await run(['explain', '-f', '/nonexistent.yaml']);
  t.equal(unreadable.code, 2);
  t.match(unreadable.stderr, /^sre-quero explain: cannot read \/nonexistent\.yaml: /);
});
