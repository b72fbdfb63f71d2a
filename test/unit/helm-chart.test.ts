import { spawn, spawnSync } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { parse, parseAllDocuments } from 'yaml';
import { serviceDnsNames } from '../../src/certs.js';
import { loadSettings } from '../../src/config.js';
import { AGENT_PROFILES, AGENTS, DEFAULT_SETTINGS, LAYOUT } from '../../src/injection/index.js';
import * as contract from '../../src/webhook-contract.js';
import { ALLOY_VERSION, cacheRoot, ENABLE_HINT, findBinaries, HELM_HINT, HELM_VERSION, helmPath, isExecutable, readProvisioned } from '../cluster/versions.js';
import { helmRunner } from '../helpers/helm-chart.js';
import type { Json } from '../helpers/reviews.js';

// The Helm chart (deploy/helm/sre-quero) with the Helm provisioning builds:
// it lints clean, renders what the kustomize install applies (object by
// object, so the two installs cannot drift apart), follows its release
// namespace wherever the server's names depend on it, and each values knob
// does what values.yaml says. Without the helm or the alloy binary (both
// built by provisioning) this file fails, it does not skip: the chart is part
// of what ships. Every config.alloy it renders goes through `alloy validate`.

const repoRoot = new URL('../../', import.meta.url).pathname;
const chart = join(repoRoot, 'deploy/helm/sre-quero');
const helm = helmPath();
const alloy = readProvisioned()?.alloy ?? join(cacheRoot(), `alloy-v${ALLOY_VERSION}`, 'alloy');

/** What Helm adds to every object's metadata, and the kustomize install does not. */
const HELM_LABELS = ['helm.sh/chart', 'app.kubernetes.io/managed-by', 'app.kubernetes.io/instance', 'app.kubernetes.io/version'];
/** Helm rolls the pods when the settings change; kustomize users roll them by hand (deploy/base/settings.yaml). */
const HELM_POD_ANNOTATIONS = ['checksum/settings'];
const CLUSTER_SCOPED = new Set(['ClusterRole', 'ClusterRoleBinding', 'MutatingWebhookConfiguration', 'ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding']);

if (!isExecutable(helm)) {
  t.fail(HELM_HINT(helm));
} else if (!isExecutable(alloy)) {
  t.fail(`no alloy at ${alloy}, to check the config.alloy the chart renders: build it with \`bash test/cluster/provision.sh\``);
} else {
  const { home, env, scratch, run, template, render } = helmRunner(t, helm, chart);
  const find = (objects: Json[], kind: string, name?: string): Json => {
    const found = objects.find((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
    if (found === undefined) throw new Error(`no ${kind}${name ? ` ${name}` : ''} rendered`);
    return found;
  };
  const settingsOf = (objects: Json[], name = 'sre-quero-settings'): Json => parse(find(objects, 'ConfigMap', name).data['settings.yaml']) as Json;
  const promtailOf = (objects: Json[]): Json => parse(find(objects, 'ConfigMap', contract.TEMPLATE_CONFIGMAP_NAME).data['promtail.yaml']) as Json;
  const alloyOf = (objects: Json[]): string => find(objects, 'ConfigMap', contract.TEMPLATE_CONFIGMAP_NAME).data['config.alloy'] as string;
  /** The lines of config.alloy's `loki.write "default"` endpoint block (Alloy's client), trimmed. */
  const alloyEndpointOf = (objects: Json[]): string[] => {
    const block = /^loki\.write "default" \{\n {2}endpoint \{\n([\s\S]*?)\n {2}\}\n\}\n?$/m.exec(alloyOf(objects))?.[1];
    if (block === undefined) throw new Error(`no loki.write "default" endpoint block in config.alloy:\n${alloyOf(objects)}`);
    return block.split('\n').map((line) => line.trim());
  };
  /** `alloy validate` on a rendered config.alloy: undefined when it passes, else Alloy's message. */
  const alloyValidate = (text: string): string | undefined => {
    const file = scratch('config.alloy');
    writeFileSync(file, text);
    const result = spawnSync(alloy, ['validate', file], { encoding: 'utf8', timeout: 60_000 });
    return result.status === 0 ? undefined : `${result.stdout}${result.stderr}` || `exit ${result.status}`;
  };
  const checkAlloy = (t: Test, objects: Json[], what: string) => {
    t.equal(alloyValidate(alloyOf(objects)), undefined, `${what}: alloy validate`);
  };
  const container = (objects: Json[]): Json => find(objects, 'Deployment').spec.template.spec.containers[0];
  const envOf = (objects: Json[]): Record<string, Json> => Object.fromEntries(container(objects).env.map((e: Json) => [e.name, e]));
  const decode = (value: string): string => Buffer.from(value, 'base64').toString('utf8');

  t.test(`helm is the pinned v${HELM_VERSION}`, async (t) => {
    const result = run(['version', '--template', '{{.Version}}']);
    t.equal(result.stdout, `v${HELM_VERSION}`, result.stderr);
  });

  t.test('helm lint: clean, also --strict, with every certificate source', async (t) => {
    const sources: [string, string[]][] = [
      ['selfSigned', []],
      ['certManager', ['--set', 'certificates.source=certManager']],
      ['existingSecret', ['--set', 'certificates.source=existingSecret', '--set', 'certificates.existingSecret.name=my-tls', '--set', 'certificates.existingSecret.caBundle=Zm9v']],
    ];
    for (const [source, flags] of sources) {
      for (const strict of [[], ['--strict']]) {
        const result = run(['lint', ...strict, chart, ...flags]);
        t.equal(result.status, 0, `${source} ${strict.join('')}`.trim(), { stdout: result.stdout, stderr: result.stderr });
        t.match(result.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
        t.notMatch(result.stdout, /\[(WARNING|ERROR)\]/, 'no warnings');
      }
    }
  });

  t.test('Chart.yaml: apiVersion v2, Kubernetes 1.30+, appVersion is the release (the default image tag)', async (t) => {
    const meta = parse(readFileSync(join(chart, 'Chart.yaml'), 'utf8')) as Json;
    const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as Json;
    t.equal(meta.apiVersion, 'v2');
    t.equal(meta.kubeVersion, '>=1.30.0-0');
    t.equal(meta.appVersion, pkg.version);
    t.equal(container(render()).image, `ghcr.io/sre-quero/sre-quero:${pkg.version}`);
    const old = template({ flags: ['--kube-version', '1.29.9'] });
    t.not(old.status, 0, 'refused before 1.30');
    t.match(old.stderr, /kubeVersion|incompatible/i);
  });

  t.test('the same objects as kubectl kustomize deploy/overlays/cert-manager (certificates.source=certManager)', async (t) => {
    const kubectl = findBinaries()?.kubectl;
    if (kubectl === undefined) {
      t.fail(`kubectl kustomize needs the provisioned kubectl: ${ENABLE_HINT}`);
      return;
    }
    const kustomized = spawnSync(kubectl, ['kustomize', join(repoRoot, 'deploy/overlays/cert-manager')], { encoding: 'utf8', timeout: 60_000 });
    t.equal(kustomized.status, 0, 'kubectl kustomize', { stderr: kustomized.stderr });
    const fromKustomize = parseAllDocuments(kustomized.stdout)
      .map((doc) => doc.toJS() as Json)
      .filter((o) => o && o.kind !== 'Namespace')
      .map((o) => {
        // kustomize's `namespace:` also lands on kinds it does not know to be
        // cluster-scoped (the admission policy and its binding); the API
        // server drops it there.
        if (CLUSTER_SCOPED.has(o.kind)) delete o.metadata.namespace;
        return o;
      });
    const fromHelm = render({ values: { certificates: { source: 'certManager' } } });

    const key = (o: Json) => `${o.kind} ${o.metadata.namespace ?? '-'}/${o.metadata.name}`;
    const comparable = (o: Json): Json => {
      const copy = structuredClone(o);
      const labels = copy.metadata.labels ?? {};
      for (const label of HELM_LABELS) delete labels[label];
      const pod = copy.spec?.template?.metadata;
      if (pod?.annotations) {
        for (const annotation of HELM_POD_ANNOTATIONS) delete pod.annotations[annotation];
        if (Object.keys(pod.annotations).length === 0) delete pod.annotations;
      }
      // ConfigMaps hold files: YAML ones (the settings, promtail.yaml) the
      // same once parsed, whatever the order of their keys; others
      // (config.alloy, in Alloy's syntax) the same text.
      if (copy.kind === 'ConfigMap') copy.data = Object.fromEntries(Object.entries(copy.data as Record<string, string>).map(([k, v]) => [k, /\.ya?ml$/.test(k) ? parse(v) : v]));
      return copy;
    };
    t.strictSame(fromHelm.map(key).sort(), fromKustomize.map(key).sort(), 'the same objects, by kind, namespace and name');
    const helmByKey = new Map(fromHelm.map((o) => [key(o), o]));
    for (const object of fromKustomize) {
      const rendered = helmByKey.get(key(object));
      if (rendered !== undefined) t.strictSame(comparable(rendered), comparable(object), key(object));
    }
    for (const object of fromHelm) {
      t.strictSame(
        Object.keys(object.metadata.labels ?? {}).filter((l) => HELM_LABELS.includes(l)).sort(),
        [...HELM_LABELS].sort(),
        `${key(object)}: Helm's labels`,
      );
    }
  });

  t.test("the contract: the server's names, whatever the release", async (t) => {
    for (const [release, namespace] of [['sre-quero', 'sre-quero'], ['logging', 'platform-logging']] as const) {
      const objects = render({ release, namespace, values: { certificates: { source: 'certManager' } } });
      const mutating = find(objects, 'MutatingWebhookConfiguration');
      t.strictSame(
        mutating.webhooks.map((w: Json) => ({ name: w.name, path: w.clientConfig.service.path })),
        contract.MUTATING_WEBHOOKS.map(({ name, path }) => ({ name, path })),
        `${release}: entry names and paths`,
      );
      const role = find(objects, 'Role');
      t.strictSame(role.rules.find((r: Json) => r.resourceNames)?.resourceNames, [contract.LEASE_NAME], `${release}: the Lease`);
      t.equal(find(objects, 'ConfigMap', contract.TEMPLATE_CONFIGMAP_NAME).metadata.namespace, namespace, `${release}: the template, by the server's default name`);
      t.strictSame(envOf(objects).SRE_QUERO_NAMESPACE?.valueFrom, { fieldRef: { fieldPath: 'metadata.namespace' } }, `${release}: the server learns its namespace from the pod`);
      t.notOk(envOf(objects).SRE_QUERO_TEMPLATE_CONFIGMAP, 'the template name is the default');
      t.match(parse(find(objects, 'ConfigMap', contract.TEMPLATE_CONFIGMAP_NAME).data['promtail.yaml']), { positions: { filename: `${LAYOUT.positionsDir}/positions.yaml` } });
      t.strictSame(
        Object.keys(find(objects, 'ConfigMap', contract.TEMPLATE_CONFIGMAP_NAME).data).sort(),
        AGENTS.map((agent) => AGENT_PROFILES[agent].configKey).sort(),
        `${release}: the template has the key each agent's sidecar reads`,
      );
    }
    const defaults = render();
    t.equal(find(defaults, 'MutatingWebhookConfiguration').metadata.name, contract.WEBHOOK_CONFIGURATION_NAME);
    t.equal(find(defaults, 'Service').metadata.name, contract.DEFAULT_SERVICE);
    t.equal(find(defaults, 'Secret', contract.TLS_SECRET_NAME).metadata.namespace, contract.DEFAULT_NAMESPACE);
  });

  t.test('another release namespace (-n platform-logging): DNS names, exclusion, Lease and subjects follow it', async (t) => {
    const namespace = 'platform-logging';
    const release = 'logging';
    const fullname = 'logging-sre-quero';
    for (const source of ['selfSigned', 'certManager']) {
      const objects = render({ release, namespace, values: { certificates: { source } } });
      for (const object of objects) {
        if (CLUSTER_SCOPED.has(object.kind)) t.notOk(object.metadata.namespace, `${object.kind} is cluster-scoped`);
        else t.equal(object.metadata.namespace, namespace, `${object.kind} ${object.metadata.name} in ${namespace}`);
        if (object.metadata.name !== contract.TEMPLATE_CONFIGMAP_NAME) t.ok(object.metadata.name.startsWith(fullname), `${object.kind} ${object.metadata.name}: release-prefixed`);
      }
      const mutating = find(objects, 'MutatingWebhookConfiguration', fullname);
      for (const webhook of mutating.webhooks) {
        t.strictSame(webhook.clientConfig.service, { namespace, name: fullname, port: 443, path: webhook.clientConfig.service.path }, `${webhook.name}: the release's Service`);
        t.strictSame(
          webhook.namespaceSelector.matchExpressions.find((e: Json) => e.key === 'kubernetes.io/metadata.name'),
          { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', namespace] },
          `${webhook.name}: never called for kube-system and the release namespace`,
        );
      }
      const binding = find(objects, 'ValidatingAdmissionPolicyBinding');
      t.equal(binding.spec.policyName, `${fullname}-enforced-logging`);
      t.strictSame(binding.spec.matchResources.namespaceSelector.matchExpressions[1].values, ['kube-system', namespace]);
      t.match(find(objects, 'ValidatingAdmissionPolicy').spec.validations[0].messageExpression, `in namespace ${namespace} if this persists`);
      for (const kind of ['RoleBinding', 'ClusterRoleBinding']) {
        t.strictSame(find(objects, kind).subjects, [{ kind: 'ServiceAccount', name: fullname, namespace }], `${kind} subject`);
      }
      const deployment = find(objects, 'Deployment');
      t.equal(deployment.spec.template.spec.serviceAccountName, fullname);
      t.equal(deployment.spec.template.spec.volumes[0].secret.secretName, `${fullname}-tls`);
      if (source === 'certManager') {
        t.equal(mutating.metadata.annotations['cert-manager.io/inject-ca-from'], `${namespace}/${fullname}`);
        const certificate = find(objects, 'Certificate', fullname);
        t.strictSame(certificate.spec.dnsNames, serviceDnsNames(fullname, namespace));
        t.equal(certificate.spec.commonName, `${fullname}.${namespace}.svc`);
        t.equal(certificate.spec.secretName, `${fullname}-tls`);
      } else {
        const cert = new X509Certificate(decode(find(objects, 'Secret', `${fullname}-tls`).data['tls.crt']));
        t.equal(cert.subjectAltName, serviceDnsNames(fullname, namespace).map((n) => `DNS:${n}`).join(', '));
      }
    }
    const clusterNames = (objects: Json[]) => objects.filter((o) => CLUSTER_SCOPED.has(o.kind)).map((o) => `${o.kind}/${o.metadata.name}`);
    const mine = clusterNames(render({ release, namespace }));
    const theirs = clusterNames(render());
    t.strictSame(mine.filter((n) => theirs.includes(n)), [], 'no cluster-scoped name in common with the release sre-quero');
  });

  t.test('selfSigned: the Secret, the CA Secret and every caBundle agree, and the certificate serves the Service', async (t) => {
    const objects = render();
    const tls = find(objects, 'Secret', 'sre-quero-tls');
    const ca = find(objects, 'Secret', 'sre-quero-ca');
    t.equal(tls.type, 'kubernetes.io/tls');
    const bundles = find(objects, 'MutatingWebhookConfiguration').webhooks.map((w: Json) => w.clientConfig.caBundle);
    t.strictSame(bundles, [tls.data['ca.crt'], tls.data['ca.crt'], tls.data['ca.crt']], 'every entry trusts the CA in the Secret');
    t.equal(ca.data['tls.crt'], tls.data['ca.crt'], 'the CA Secret holds the same CA');
    const caCert = new X509Certificate(decode(ca.data['tls.crt']));
    const cert = new X509Certificate(decode(tls.data['tls.crt']));
    t.ok(cert.checkIssued(caCert) && cert.verify(caCert.publicKey), 'signed by that CA');
    t.ok(cert.checkPrivateKey(createPrivateKey(decode(tls.data['tls.key']))), 'tls.key is its key');
    t.ok(caCert.checkPrivateKey(createPrivateKey(decode(ca.data['tls.key']))), 'the CA key is kept with the CA');
    t.equal(cert.subjectAltName, serviceDnsNames('sre-quero', 'sre-quero').map((n) => `DNS:${n}`).join(', '));
    const days = (x: X509Certificate) => Math.round((Date.parse(x.validTo) - Date.now()) / 86_400_000);
    t.equal(days(cert), 365);
    t.equal(days(caCert), 3650);
    // genSignedCert starts the validity at render time: within a few seconds.
    t.ok(Math.abs(Number(tls.metadata.annotations['sre-quero.io/not-after']) - Date.parse(cert.validTo) / 1000) < 5, 'not-after, for the renewal at upgrade');
    const caNotAfter = Number(ca.metadata.annotations?.['sre-quero.io/ca-not-after']);
    t.ok(caNotAfter <= Date.parse(caCert.validTo) / 1000 && Date.parse(caCert.validTo) / 1000 - caNotAfter < 5, "the CA Secret records the CA's not-after, never later than it");
    const mounted = find(objects, 'Deployment').spec.template.spec.volumes.find((v: Json) => v.name === 'tls');
    t.equal(mounted.secret.secretName, 'sre-quero-tls', 'the Deployment mounts the serving Secret, not the CA');
    const again = render();
    t.not(find(again, 'Secret', 'sre-quero-ca').data['tls.crt'], ca.data['tls.crt'], 'without a cluster to look up, each rendering makes a new CA');
  });

  t.test('selfSigned across upgrades (lookup, against a stand-in API server): kept, re-signed by the same CA near expiry, a new CA without one or when it cannot cover a new certificate', async (t) => {
    // `helm template --dry-run=server` renders with lookup as `helm upgrade`
    // does. The stand-in answers discovery for the chart's kinds and serves
    // the Secrets a previous release left; every other object is absent.
    const stored = new Map<string, Json>();
    const resources = (list: [string, string, boolean][]) => list.map(([name, kind, namespaced]) => ({ name, kind, namespaced, singularName: kind.toLowerCase(), verbs: ['get', 'list'] }));
    const groups: Record<string, Json[]> = {
      v1: resources([['secrets', 'Secret', true], ['namespaces', 'Namespace', false], ['configmaps', 'ConfigMap', true], ['services', 'Service', true], ['serviceaccounts', 'ServiceAccount', true]]),
      'apps/v1': resources([['deployments', 'Deployment', true]]),
      'policy/v1': resources([['poddisruptionbudgets', 'PodDisruptionBudget', true]]),
      'rbac.authorization.k8s.io/v1': resources([['clusterroles', 'ClusterRole', false], ['clusterrolebindings', 'ClusterRoleBinding', false], ['roles', 'Role', true], ['rolebindings', 'RoleBinding', true]]),
      'admissionregistration.k8s.io/v1': resources([['mutatingwebhookconfigurations', 'MutatingWebhookConfiguration', false], ['validatingadmissionpolicies', 'ValidatingAdmissionPolicy', false], ['validatingadmissionpolicybindings', 'ValidatingAdmissionPolicyBinding', false]]),
    };
    const server = createServer((req, res) => {
      const path = new URL(req.url ?? '/', 'http://stand-in').pathname;
      const reply = (status: number, body: Json) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      if (path === '/version') return reply(200, { major: '1', minor: '37', gitVersion: 'v1.37.2' });
      if (path === '/api') return reply(200, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [] });
      if (path === '/apis') {
        const named = Object.keys(groups).filter((gv) => gv.includes('/'));
        return reply(200, { kind: 'APIGroupList', apiVersion: 'v1', groups: named.map((gv) => ({ name: gv.split('/')[0], versions: [{ groupVersion: gv, version: 'v1' }], preferredVersion: { groupVersion: gv, version: 'v1' } })) });
      }
      const groupVersion = path === '/api/v1' ? 'v1' : /^\/apis\/(.+\/v1)$/.exec(path)?.[1];
      if (groupVersion !== undefined && groups[groupVersion]) return reply(200, { kind: 'APIResourceList', groupVersion, resources: groups[groupVersion] });
      const secret = /^\/api\/v1\/namespaces\/([^/]+)\/secrets\/([^/]+)$/.exec(path);
      const found = secret ? stored.get(`${secret[1]}/${secret[2]}`) : undefined;
      return found ? reply(200, found) : reply(404, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404 });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.teardown(() => server.close());
    const kubeconfig = join(home, 'stand-in.kubeconfig');
    writeFileSync(
      kubeconfig,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'stand-in', cluster: { server: `http://127.0.0.1:${(server.address() as AddressInfo).port}` } }],
        users: [{ name: 'u', user: { token: 'none' } }],
        contexts: [{ name: 'c', context: { cluster: 'stand-in', user: 'u' } }],
        'current-context': 'c',
      }),
    );
    // Not spawnSync: the stand-in answers from this process's event loop.
    const upgrade = (flags: string[] = []) =>
      new Promise<{ tls: Json; ca: Json; bundle: string }>((resolve, reject) => {
        const args = ['template', 'sre-quero', chart, '--namespace', 'sre-quero', '--dry-run=server', '--disable-openapi-validation', '--kubeconfig', kubeconfig, ...flags];
        const child = spawn(helm, args, { env, timeout: 60_000 });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (chunk) => (stdout += chunk));
        child.stderr.on('data', (chunk) => (stderr += chunk));
        child.on('error', reject);
        child.on('close', (status) => {
          if (status !== 0) return reject(new Error(`helm template --dry-run=server: ${stderr}`));
          const objects = parseAllDocuments(stdout).map((doc) => doc.toJS() as Json).filter(Boolean);
          resolve({ tls: find(objects, 'Secret', 'sre-quero-tls'), ca: find(objects, 'Secret', 'sre-quero-ca'), bundle: find(objects, 'MutatingWebhookConfiguration').webhooks[0].clientConfig.caBundle });
        });
      });
    /** The Secrets as the release left them in the cluster (Helm checks it owns them). */
    const leave = (...secrets: Json[]) => {
      stored.clear();
      for (const secret of secrets) {
        const owned = structuredClone(secret);
        owned.metadata.annotations = { ...owned.metadata.annotations, 'meta.helm.sh/release-name': 'sre-quero', 'meta.helm.sh/release-namespace': 'sre-quero' };
        stored.set(`sre-quero/${owned.metadata.name}`, owned);
      }
    };
    const notAfter = (secret: Json) => Number(secret.metadata.annotations['sre-quero.io/not-after']);
    const caNotAfter = (secret: Json) => Number(secret.metadata.annotations?.['sre-quero.io/ca-not-after']);

    const installed = await upgrade();
    t.equal(installed.bundle, installed.tls.data['ca.crt'], 'install: the caBundle is the CA');
    leave(installed.tls, installed.ca);
    const kept = await upgrade();
    t.strictSame([kept.tls.data, kept.ca.data, kept.bundle, notAfter(kept.tls)], [installed.tls.data, installed.ca.data, installed.bundle, notAfter(installed.tls)], 'upgrade: everything kept');
    t.equal(caNotAfter(kept.ca), caNotAfter(installed.ca), "and the CA's recorded not-after");

    const nearExpiry = structuredClone(installed.tls);
    nearExpiry.metadata.annotations['sre-quero.io/not-after'] = String(Math.floor(Date.now() / 1000) + 10 * 86_400);
    leave(nearExpiry, installed.ca);
    const renewed = await upgrade();
    t.not(renewed.tls.data['tls.crt'], installed.tls.data['tls.crt'], 'within renewBeforeDays (30) of expiry: a new serving certificate');
    t.strictSame([renewed.ca.data, renewed.bundle], [installed.ca.data, installed.bundle], 'from the same CA: caBundle unchanged');
    const caCert = new X509Certificate(decode(installed.ca.data['tls.crt']));
    t.ok(new X509Certificate(decode(renewed.tls.data['tls.crt'])).checkIssued(caCert), 'signed by it');
    t.ok(notAfter(renewed.tls) - Date.now() / 1000 > 364 * 86_400, 'valid for another validityDays');

    leave(installed.tls, installed.ca);
    const forced = await upgrade(['--set', 'certificates.selfSigned.validityDays=400', '--set', 'certificates.selfSigned.renewBeforeDays=399']);
    t.not(forced.tls.data['tls.crt'], installed.tls.data['tls.crt'], 'renewBeforeDays beyond what the certificate has left: re-signed');
    t.equal(forced.bundle, installed.bundle, 'the CA covers 400 days more: kept');

    const moved = structuredClone(installed.tls);
    moved.metadata.annotations['sre-quero.io/dns-names'] = 'sre-quero,sre-quero.elsewhere';
    leave(moved, installed.ca);
    const renamed = await upgrade();
    t.not(renamed.tls.data['tls.crt'], installed.tls.data['tls.crt'], 'other DNS names: re-signed');
    t.equal(renamed.bundle, installed.bundle, 'by the same CA');

    leave(installed.tls);
    const lost = await upgrade();
    t.not(lost.bundle, installed.bundle, 'the CA Secret gone: a new CA');
    t.not(lost.tls.data['tls.crt'], installed.tls.data['tls.crt'], 'and a certificate it signed');
    t.equal(lost.bundle, lost.tls.data['ca.crt']);

    // The CA's own expiry, as recorded on its Secret (sre-quero.io/ca-not-after).
    const now = () => Math.floor(Date.now() / 1000);
    const withCaNotAfter = (value: string | undefined) => {
      const ca = structuredClone(installed.ca);
      ca.metadata.annotations ??= {};
      if (value === undefined) delete ca.metadata.annotations['sre-quero.io/ca-not-after'];
      else ca.metadata.annotations['sre-quero.io/ca-not-after'] = value;
      return ca;
    };
    /** A new CA and a certificate it signed, ending by it, with the new CA's not-after recorded. */
    const newCa = (t: Test, result: { tls: Json; ca: Json; bundle: string }, what: string, { oldCaTrusted }: { oldCaTrusted: boolean }) => {
      t.not(result.tls.data['ca.crt'], installed.tls.data['ca.crt'], `${what}: a new CA`);
      t.equal(result.tls.data['ca.crt'], result.ca.data['tls.crt'], `${what}: the same new CA in both Secrets`);
      // While the old CA has not ended, the caBundle trusts it too: the pods serve its certificate until they read the new Secret.
      const expectedBundle = decode(result.ca.data['tls.crt']) + (oldCaTrusted ? decode(installed.ca.data['tls.crt']) : '');
      t.equal(decode(result.bundle), expectedBundle, `${what}: the caBundle is the new CA${oldCaTrusted ? ', then the old one' : ' alone (the old one has ended)'}`);
      const caCert = new X509Certificate(decode(result.ca.data['tls.crt']));
      const leaf = new X509Certificate(decode(result.tls.data['tls.crt']));
      t.ok(leaf.checkIssued(caCert) && leaf.verify(caCert.publicKey), `${what}: the certificate verifies against the new CA`);
      t.ok(Date.parse(leaf.validTo) <= Date.parse(caCert.validTo), `${what}: the certificate (${leaf.validTo}) ends by the CA (${caCert.validTo})`);
      t.ok(Math.abs(caNotAfter(result.ca) - Date.parse(caCert.validTo) / 1000) < 5, `${what}: the new CA's not-after recorded`);
      t.ok(caNotAfter(result.ca) - now() > 3649 * 86_400, `${what}: caValidityDays from now`);
    };

    leave(nearExpiry, withCaNotAfter(String(now() + 100 * 86_400)));
    newCa(t, await upgrade(), 'certificate due, the CA ends in 100 days (< validityDays)', { oldCaTrusted: true });
    leave(installed.tls, withCaNotAfter(String(now() + 100 * 86_400)));
    const replaced = await upgrade();
    newCa(t, replaced, 'certificate not due, but it ends after the CA', { oldCaTrusted: true });
    // The release after: the new CA is kept, and the old one leaves the caBundle.
    leave(replaced.tls, replaced.ca);
    const after = await upgrade();
    t.equal(decode(after.bundle), decode(replaced.ca.data['tls.crt']), 'the next upgrade: the caBundle is the new CA alone');
    t.equal(after.tls.data['tls.crt'], replaced.tls.data['tls.crt'], 'the next upgrade: the certificate is kept');
    leave(installed.tls, withCaNotAfter(String(now() - 86_400)));
    newCa(t, await upgrade(), 'the CA expired yesterday', { oldCaTrusted: false });

    const covered = withCaNotAfter(String(now() + 400 * 86_400));
    leave(nearExpiry, covered);
    const resigned = await upgrade();
    t.not(resigned.tls.data['tls.crt'], installed.tls.data['tls.crt'], 'certificate due, the CA ends in 400 days: re-signed');
    t.strictSame([resigned.bundle, resigned.ca.data], [installed.bundle, installed.ca.data], 'by the same CA: caBundle unchanged');
    t.equal(caNotAfter(resigned.ca), caNotAfter(covered), "the CA's recorded not-after carried over");
    t.ok(notAfter(resigned.tls) <= caNotAfter(covered), 'the new certificate ends by the CA');

    const shortLeaf = structuredClone(installed.tls);
    shortLeaf.metadata.annotations['sre-quero.io/not-after'] = String(now() + 150 * 86_400);
    leave(shortLeaf, withCaNotAfter(String(now() + 200 * 86_400)));
    const notYet = await upgrade();
    t.strictSame([notYet.tls.data, notYet.bundle], [installed.tls.data, installed.bundle], 'the CA ends in 200 days, the certificate (not due) in 150: both kept until the certificate is due');

    // A release from before the annotation: the CA's end is unknown; kept as before, nothing claimed.
    for (const [value, what] of [[undefined, 'no ca-not-after'], ['soon', 'a ca-not-after that is no number']] as const) {
      leave(installed.tls, withCaNotAfter(value));
      const unknown = await upgrade();
      t.strictSame([unknown.tls.data, unknown.bundle], [installed.tls.data, installed.bundle], `${what}: kept`);
      t.notOk(unknown.ca.metadata.annotations?.['sre-quero.io/ca-not-after'], `${what}: no not-after claimed for the CA`);
      leave(nearExpiry, withCaNotAfter(value));
      const resignedUnknown = await upgrade();
      t.not(resignedUnknown.tls.data['tls.crt'], installed.tls.data['tls.crt'], `${what}: re-signed near expiry`);
      t.equal(resignedUnknown.bundle, installed.bundle, `${what}: by the same CA`);
    }
  });

  t.test("selfSigned lifetimes: the CA outlives the certificate, the renewal window falls inside it", async (t) => {
    for (const [selfSigned, message] of [
      [{ caValidityDays: 365 }, /certificates\.selfSigned\.caValidityDays \(365\) must be greater than certificates\.selfSigned\.validityDays \(365\): a certificate would outlive its CA/],
      [{ caValidityDays: 100, validityDays: 200 }, /certificates\.selfSigned\.caValidityDays \(100\) must be greater than certificates\.selfSigned\.validityDays \(200\)/],
      [{ renewBeforeDays: 365 }, /certificates\.selfSigned\.renewBeforeDays \(365\) must be less than certificates\.selfSigned\.validityDays \(365\)/],
      [{ renewBeforeDays: 0 }, /schema[\s\S]*renewBeforeDays/i],
      [{ validityDays: 0 }, /schema[\s\S]*validityDays/i],
      [{ caValidityDays: -1 }, /schema[\s\S]*caValidityDays/i],
      [{ validityDays: 1.5 }, /schema[\s\S]*validityDays/i],
    ] as const) {
      const result = template({ values: { certificates: { selfSigned } } });
      t.not(result.status, 0, JSON.stringify(selfSigned));
      t.match(result.stderr, message, `${JSON.stringify(selfSigned)}: the message names the values`);
    }
    const edge = render({ values: { certificates: { selfSigned: { caValidityDays: 31, validityDays: 30, renewBeforeDays: 29 } } } });
    const days = (x: X509Certificate) => Math.round((Date.parse(x.validTo) - Date.now()) / 86_400_000);
    t.strictSame(
      [days(new X509Certificate(decode(find(edge, 'Secret', 'sre-quero-ca').data['tls.crt']))), days(new X509Certificate(decode(find(edge, 'Secret', 'sre-quero-tls').data['tls.crt'])))],
      [31, 30],
      'one day apart is enough',
    );
    t.equal(template({ values: { certificates: { source: 'certManager', selfSigned: { caValidityDays: 30 } } } }).status, 0, 'not checked with another source');
  });

  t.test('existingSecret: your Secret and its CA, given as PEM or as base64', async (t) => {
    const pem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
    for (const caBundle of [pem, Buffer.from(pem).toString('base64')]) {
      const objects = render({ values: { certificates: { source: 'existingSecret', existingSecret: { name: 'corp-tls', caBundle } } } });
      t.notOk(objects.some((o) => o.kind === 'Secret' || o.kind === 'Certificate'), 'no Secret or Certificate of its own');
      t.equal(find(objects, 'Deployment').spec.template.spec.volumes[0].secret.secretName, 'corp-tls');
      for (const webhook of find(objects, 'MutatingWebhookConfiguration').webhooks) t.equal(decode(webhook.clientConfig.caBundle), pem);
    }
    const missing = template({ values: { certificates: { source: 'existingSecret', existingSecret: { caBundle: pem } } } });
    t.not(missing.status, 0);
    t.match(missing.stderr, /certificates\.existingSecret\.name is required/);
    const noCa = template({ values: { certificates: { source: 'existingSecret', existingSecret: { name: 'corp-tls' } } } });
    t.match(noCa.stderr, /certificates\.existingSecret\.caBundle is required/);
  });

  t.test('certManager with an issuer of yours: only the serving Certificate', async (t) => {
    const objects = render({ values: { certificates: { source: 'certManager', certManager: { issuerRef: { group: 'cert-manager.io', kind: 'ClusterIssuer', name: 'corp-ca' } } } } });
    t.strictSame(objects.filter((o) => o.kind === 'Issuer' || o.kind === 'Certificate').map((o) => `${o.kind}/${o.metadata.name}`), ['Certificate/sre-quero']);
    t.strictSame(find(objects, 'Certificate').spec.issuerRef, { group: 'cert-manager.io', kind: 'ClusterIssuer', name: 'corp-ca' });
    t.notOk(objects.some((o) => o.kind === 'Secret'));
    t.notOk(find(objects, 'MutatingWebhookConfiguration').webhooks.some((w: Json) => w.clientConfig.caBundle), 'cainjector fills caBundle');
  });

  t.test('the Deployment knobs', async (t) => {
    const defaults = render();
    const tuned = render({
      values: {
        image: { repository: 'registry.example.com/platform/sre-quero', tag: '9.9.9', pullPolicy: 'Always' },
        imagePullSecrets: [{ name: 'pull' }],
        replicas: 3,
        logLevel: 'debug',
        resources: { requests: { cpu: '100m', memory: '128Mi' } },
        podDisruptionBudget: { minAvailable: 2 },
        affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'pool', operator: 'In', values: ['system'] }] }] } } },
        topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: { 'app.kubernetes.io/name': 'sre-quero' } } }],
        nodeSelector: { 'kubernetes.io/os': 'linux' },
        tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'system', effect: 'NoSchedule' }],
        priorityClassName: 'system-cluster-critical',
        podAnnotations: { 'example.com/team': 'platform' },
        podLabels: { team: 'platform' },
      },
    });
    const spec = find(tuned, 'Deployment').spec;
    const pod = spec.template.spec;
    t.equal(spec.replicas, 3);
    t.equal(container(tuned).image, 'registry.example.com/platform/sre-quero:9.9.9');
    t.equal(container(tuned).imagePullPolicy, 'Always');
    t.strictSame(pod.imagePullSecrets, [{ name: 'pull' }]);
    t.equal(envOf(tuned).SRE_QUERO_LOG_LEVEL?.value, 'debug');
    t.strictSame(container(tuned).resources, { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '500m', memory: '256Mi' } }, 'maps merge with the defaults');
    t.strictSame(container(render({ values: { resources: { limits: null } } })).resources, { requests: { cpu: '50m', memory: '64Mi' } }, 'null drops a default');
    t.equal(find(tuned, 'PodDisruptionBudget').spec.minAvailable, 2);
    t.strictSame(Object.keys(pod.affinity), ['nodeAffinity'], 'affinity replaces the default anti-affinity');
    t.ok(find(defaults, 'Deployment').spec.template.spec.affinity.podAntiAffinity, 'the default: replicas spread over nodes');
    t.equal(pod.topologySpreadConstraints[0].topologyKey, 'topology.kubernetes.io/zone');
    t.strictSame(pod.nodeSelector, { 'kubernetes.io/os': 'linux' });
    t.equal(pod.tolerations[0].key, 'dedicated');
    t.equal(pod.priorityClassName, 'system-cluster-critical');
    t.equal(spec.template.metadata.annotations['example.com/team'], 'platform');
    t.equal(spec.template.metadata.labels.team, 'platform');
    t.strictSame(spec.selector.matchLabels, { 'app.kubernetes.io/name': 'sre-quero', 'app.kubernetes.io/component': 'webhook' }, 'the selector stays');
    t.notOk(render({ values: { podDisruptionBudget: { enabled: false } } }).some((o) => o.kind === 'PodDisruptionBudget'), 'PDB off');
  });

  t.test('the webhook knobs: failure policy and timeout per entry, selectors, excluded namespaces', async (t) => {
    const objects = render({
      values: {
        webhooks: {
          enforced: { failurePolicy: 'Fail', timeoutSeconds: 10 },
          excludedNamespaces: ['kube-system', 'monitoring'],
          namespaceSelector: { matchLabels: { 'platform.example.com/logging': 'loki' }, matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['infra'] }] },
          objectSelector: { matchExpressions: [{ key: 'example.com/no-logs', operator: 'DoesNotExist' }] },
        },
      },
    });
    const [annotated, enabled, enforced] = find(objects, 'MutatingWebhookConfiguration').webhooks;
    t.strictSame([annotated.failurePolicy, enabled.failurePolicy, enforced.failurePolicy], ['Ignore', 'Ignore', 'Fail']);
    t.strictSame([annotated.timeoutSeconds, enabled.timeoutSeconds, enforced.timeoutSeconds], [5, 5, 10]);
    const binding = find(objects, 'ValidatingAdmissionPolicyBinding').spec.matchResources;
    for (const selector of [annotated.namespaceSelector, enabled.namespaceSelector, enforced.namespaceSelector, binding.namespaceSelector]) {
      t.strictSame(selector.matchLabels, { 'platform.example.com/logging': 'loki' });
      t.strictSame(selector.matchExpressions.slice(1), [
        { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', 'monitoring', 'sre-quero'] },
        { key: 'tier', operator: 'NotIn', values: ['infra'] },
      ]);
    }
    for (const selector of [annotated.objectSelector, enforced.objectSelector, binding.objectSelector]) {
      t.strictSame(selector, { matchExpressions: [{ key: 'example.com/no-logs', operator: 'DoesNotExist' }] });
    }
    t.strictSame(enabled.namespaceSelector.matchExpressions[0], { key: 'logging.sre-quero/injection', operator: 'In', values: ['enabled'] }, "the entry's own expression first");
    const off = render({ values: { enforcement: { enabled: false } } });
    t.notOk(off.some((o) => o.kind.startsWith('ValidatingAdmissionPolicy')), 'enforcement off: no policy');
  });

  t.test('reconciler.enabled=false: a webhook-only install, no reconciler RBAC', async (t) => {
    const objects = render({ values: { reconciler: { enabled: false } } });
    t.notOk(objects.some((o) => ['ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding'].includes(o.kind)));
    t.equal(envOf(objects).SRE_QUERO_RECONCILER?.value, 'off');
    t.notOk(envOf(render()).SRE_QUERO_RECONCILER, 'on by default (the server decides: in a pod, auto)');
  });

  t.test('settings: the knobs and the free-form map, accepted by the server; a change rolls the pods', async (t) => {
    const accepts = (objects: Json[]) => loadSettings('settings.yaml', () => find(objects, 'ConfigMap', 'sre-quero-settings').data['settings.yaml']);
    const defaults = render();
    t.strictSame(settingsOf(defaults), parse(parse(readFileSync(join(repoRoot, 'deploy/base/settings.yaml'), 'utf8')).data['settings.yaml']), "deploy/base's settings");
    t.strictSame(accepts(defaults), DEFAULT_SETTINGS, "the server's own defaults");
    const tuned = render({
      values: {
        sidecarMode: 'native',
        loki: { auth: { type: 'basic', credentialsSecret: 'loki-credentials' } },
        images: { promtail: 'registry.example.com/grafana/promtail:3.6.11' },
        allowedImageRepositories: { promtail: ['registry.example.com/grafana/promtail'] },
        settings: { logPath: '/var/log/shop' },
      },
    });
    const settings = accepts(tuned);
    t.match(settings, {
      agent: 'promtail',
      sidecarMode: 'native',
      credentialsSecret: 'loki-credentials',
      logPath: '/var/log/shop',
      metricsPort: 9080,
    });
    t.strictSame(settings.images, { promtail: 'registry.example.com/grafana/promtail:3.6.11', alloy: 'grafana/alloy:v1.19.2' }, "images.promtail; alloy's stays");
    t.strictSame(settings.allowedImageRepositories, { promtail: ['registry.example.com/grafana/promtail'], alloy: ['grafana/alloy', 'docker.io/grafana/alloy'] }, "lists replace; alloy's stay");
    t.equal(settingsOf(render({ values: { sidecarMode: 'native', settings: { sidecarMode: 'auto' } } })).sidecarMode, 'auto', 'a key in `settings` wins');

    // The forms from before the choice of agent, in `settings`: written as images.promtail and allowedImageRepositories.promtail.
    const legacy = render({ values: { settings: { image: 'registry.example.com/grafana/promtail:3.6.11', allowedImageRepositories: ['registry.example.com/grafana/promtail'] } } });
    t.notOk('image' in settingsOf(legacy), 'settings.image: written as images.promtail');
    t.strictSame(accepts(legacy).images, settings.images, 'settings.image is images.promtail');
    t.strictSame(accepts(legacy).allowedImageRepositories, settings.allowedImageRepositories, "a plain list is promtail's");
    // resources.requests/limits: Helm merges them with the per-agent defaults, a mix the server refuses; written as promtail's.
    const { promtail, alloy: alloyResources } = DEFAULT_SETTINGS.resources;
    const legacyResources = render({ values: { settings: { resources: { requests: { cpu: '10m' }, limits: { memory: '300Mi' } } } } });
    t.strictSame(Object.keys(settingsOf(legacyResources).resources).sort(), ['alloy', 'promtail'], 'resources.requests and limits: written as resources.promtail');
    t.strictSame(
      accepts(legacyResources).resources,
      { promtail: { requests: { ...promtail.requests, cpu: '10m' }, limits: { ...promtail.limits, memory: '300Mi' } }, alloy: alloyResources },
      "promtail's, over its defaults; alloy keeps its own",
    );
    t.strictSame(
      accepts(render({ flags: ['--set', 'settings.resources.alloy.limits.memory=512Mi'] })).resources,
      { promtail, alloy: { requests: alloyResources.requests, limits: { ...alloyResources.limits, memory: '512Mi' } } },
      'one value of one agent',
    );
    const conflict = template({ values: { settings: { image: 'grafana/promtail:3.6.11', images: { promtail: 'docker.io/grafana/promtail:3.6.11' } } } });
    t.not(conflict.status, 0, 'settings.image and settings.images.promtail disagreeing');
    t.match(conflict.stderr, /settings\.image \(grafana\/promtail:3\.6\.11\) and settings\.images\.promtail \(docker\.io\/grafana\/promtail:3\.6\.11\) name different images/);

    // The agent.
    const alloy = render({ flags: ['--set', 'agent=alloy'] });
    t.equal(accepts(alloy).agent, 'alloy', '--set agent=alloy: alloy for the pods created from then on');
    t.strictSame(accepts(alloy).allowedAgents, ['promtail', 'alloy'], 'the annotation may still pick promtail');
    const alloyOnly = accepts(
      render({
        values: {
          agent: 'alloy',
          allowedAgents: ['alloy'],
          images: { alloy: 'registry.example.com/grafana/alloy:v1.19.2' },
          allowedImageRepositories: { alloy: ['registry.example.com/grafana/alloy'] },
        },
      }),
    );
    t.match(alloyOnly, { agent: 'alloy', allowedAgents: ['alloy'], images: { alloy: 'registry.example.com/grafana/alloy:v1.19.2', promtail: 'grafana/promtail:3.6.11' } });
    t.strictSame(alloyOnly.allowedImageRepositories.alloy, ['registry.example.com/grafana/alloy']);
    const notAllowed = template({ values: { agent: 'alloy', allowedAgents: ['promtail'] } });
    t.not(notAllowed.status, 0, 'agent outside allowedAgents: refused at render, not at the server start');
    t.match(notAllowed.stderr, /agent: alloy is not among allowedAgents \(promtail\)/);
    t.equal(template({ values: { allowedAgents: ['alloy'], settings: { agent: 'alloy' } } }).status, 0, 'checked after `settings` is merged');

    const checksum = (objects: Json[]) => find(objects, 'Deployment').spec.template.metadata.annotations['checksum/settings'];
    t.equal(checksum(render()), checksum(defaults), 'the same settings, the same pods');
    t.not(checksum(tuned), checksum(defaults), 'other settings roll the Deployment');
    t.not(checksum(alloy), checksum(defaults), 'another agent rolls the Deployment');
  });

  t.test('loki: URL, tenant and credentials in both keys of the central template', async (t) => {
    const url = 'http://loki-gateway.loki.svc.cluster.local/loki/api/v1/push';
    const defaults = render();
    t.strictSame(promtailOf(defaults).clients, [{ url }]);
    t.strictSame(alloyEndpointOf(defaults), [`url = "${url}"`]);
    t.notMatch(alloyOf(defaults), /local\.file "/, 'no credentials file read without auth');
    checkAlloy(t, defaults, 'defaults');
    const dir = LAYOUT.credentialsDir;
    const cases: [Json, Json, string[]][] = [
      [{ type: 'basic' }, { basic_auth: { username_file: `${dir}/username`, password_file: `${dir}/password` } }, ['basic_auth {', 'username      = string.trim_space(local.file.loki_username.content)', `password_file = "${dir}/password"`, '}']],
      [{ type: 'bearerToken' }, { bearer_token_file: `${dir}/token` }, [`bearer_token_file = "${dir}/token"`]],
      [{ type: 'tlsClientCertificate' }, { tls_config: { ca_file: `${dir}/ca.crt`, cert_file: `${dir}/tls.crt`, key_file: `${dir}/tls.key` } }, ['tls_config {', `ca_file   = "${dir}/ca.crt"`, `cert_file = "${dir}/tls.crt"`, `key_file  = "${dir}/tls.key"`, '}']],
    ];
    for (const [auth, expected, alloyLines] of cases) {
      const objects = render({ values: { loki: { url: 'https://loki.example.com/loki/api/v1/push', tenant: '${POD_NAMESPACE}', auth: { ...auth, credentialsSecret: 'loki-credentials' } } } });
      t.strictSame(promtailOf(objects).clients, [{ url: 'https://loki.example.com/loki/api/v1/push', tenant_id: '${POD_NAMESPACE}', ...expected }], `${auth.type}: promtail.yaml`);
      t.strictSame(alloyEndpointOf(objects), ['url = "https://loki.example.com/loki/api/v1/push"', 'tenant_id = sys.env("POD_NAMESPACE")', ...alloyLines], `${auth.type}: config.alloy`);
      t.equal(settingsOf(objects).credentialsSecret, 'loki-credentials', `${auth.type}: the sidecar mounts the Secret`);
      checkAlloy(t, objects, auth.type);
      if (auth.type === 'basic') {
        // Alloy's basic_auth has no username_file: the file is read by a local.file component.
        t.match(alloyOf(objects), `local.file "loki_username" {\n  filename = "${dir}/username"\n}`, 'basic: the username from its file');
      } else {
        t.notMatch(alloyOf(objects), /local\.file "/, `${auth.type}: no username file`);
      }
    }
    for (const [tenant, expression] of [
      ['team-a', '"team-a"'],
      ['logs-${POD_NAMESPACE}', '"logs-" + sys.env("POD_NAMESPACE")'],
      ['say "${NODE_NAME}"', '"say \\"" + sys.env("NODE_NAME") + "\\""'],
    ]) {
      const objects = render({ values: { loki: { tenant } } });
      t.equal(promtailOf(objects).clients[0].tenant_id, tenant, `tenant ${tenant}: promtail.yaml`);
      t.strictSame(alloyEndpointOf(objects), [`url = "${url}"`, `tenant_id = ${expression}`], `tenant ${tenant}: config.alloy`);
      checkAlloy(t, objects, `tenant ${tenant}`);
    }
    const unsupported = template({ values: { loki: { tenant: '${POD_NAMESPACE:-shared}' } } });
    t.not(unsupported.status, 0, 'a ${...} form Alloy cannot read: refused, not shipped literally');
    t.match(unsupported.stderr, /config\.alloy reads \$\{NAME\}/);
    const noSecret = template({ values: { loki: { auth: { type: 'basic' } } } });
    t.not(noSecret.status, 0);
    t.match(noSecret.stderr, /loki\.auth\.type=basic needs loki\.auth\.credentialsSecret/);
    const extra = render({ values: { loki: { clientExtra: { backoff_config: { max_retries: 20 } }, alloyEndpointExtra: 'retry_on_http_429 = false\nqueue_config {\n  capacity = "20MiB"\n}\n' } } });
    t.strictSame(promtailOf(extra).clients[0].backoff_config, { max_retries: 20 }, 'clientExtra: promtail.yaml');
    t.strictSame(alloyEndpointOf(extra), [`url = "${url}"`, 'retry_on_http_429 = false', 'queue_config {', 'capacity = "20MiB"', '}'], 'alloyEndpointExtra: config.alloy');
    t.notMatch(alloyOf(extra), /backoff/, "clientExtra is promtail's only");
    checkAlloy(t, extra, 'alloyEndpointExtra');
    const ownPromtail = render({ values: { promtailTemplate: 'server: {http_listen_port: 9080}\nclients: [{url: "http://mine/loki/api/v1/push"}]\n' } });
    t.strictSame(promtailOf(ownPromtail), { server: { http_listen_port: 9080 }, clients: [{ url: 'http://mine/loki/api/v1/push' }] }, 'promtailTemplate replaces promtail.yaml whole');
    t.equal(alloyOf(ownPromtail), alloyOf(defaults), 'and leaves config.alloy');
    const mine = 'loki.write "default" {\n  endpoint {\n    url = "http://mine/loki/api/v1/push"\n  }\n}\n';
    const ownAlloy = render({ values: { alloyTemplate: mine } });
    t.equal(alloyOf(ownAlloy), mine, 'alloyTemplate replaces config.alloy whole');
    t.strictSame(promtailOf(ownAlloy), promtailOf(defaults), 'and leaves promtail.yaml');
  });

  t.test('NOTES: how to check the install, and how to label the release namespace as deploy/base does', async (t) => {
    const result = run(['install', 'logging', chart, '--namespace', 'platform-logging', '--dry-run=client']);
    t.equal(result.status, 0, result.stderr);
    t.match(result.stdout, 'kubectl -n platform-logging rollout status deployment/logging-sre-quero');
    t.match(result.stdout, 'kubectl label namespace platform-logging logging.sre-quero/injection=disabled');
  });

  t.test('values.schema.json refuses what the server or the chart cannot use', async (t) => {
    for (const [values, what] of [
      [{ certificates: { source: 'vault' } }, 'certificates.source'],
      [{ sidecarMode: 'sometimes' }, 'sidecarMode'],
      [{ agent: 'fluent-bit' }, 'agent'],
      [{ allowedAgents: ['promtail', 'vector'] }, 'allowedAgents'],
      [{ allowedAgents: [] }, 'allowedAgents empty'],
      [{ images: { promtail: '' } }, 'an empty image'],
      [{ images: { vector: 'timberio/vector:0.40.0' } }, 'images of an unknown agent'],
      [{ allowedImageRepositories: { alloy: [] } }, 'no repository for an agent'],
      [{ webhooks: { annotated: { failurePolicy: 'Maybe', timeoutSeconds: 5 } } }, 'failurePolicy'],
      [{ webhooks: { excludedNamespaces: ['Not_A_Namespace'] } }, 'excludedNamespaces'],
      [{ replica: 3 }, 'a misspelt key'],
    ] as const) {
      const result = template({ values });
      t.not(result.status, 0, what);
      t.match(result.stderr, /schema/i, `${what}: named by the schema`);
    }
  });
}
