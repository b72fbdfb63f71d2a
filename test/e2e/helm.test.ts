import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { runCaptured } from '../cluster/client.js';
import { repoRoot } from '../cluster/install.js';
import { imageName } from '../cluster/local-cluster.js';
import { HELM_HINT, helmPath, isExecutable, readProvisioned } from '../cluster/versions.js';
import type { Json } from '../helpers/reviews.js';
import { hasSidecar, pod, waitFor } from './harness.js';
import { isReady, namespaceFor, nodeClusterOrSkip } from './node-harness.js';

// The Helm chart installed the way its users install it (`helm install
// --create-namespace`, a self-signed certificate made by Helm), next to the
// suite's kustomize install of namespace sre-quero, which other test files
// use at the same time. So the release must neither collide with it nor
// change what it does:
// - its cluster-scoped objects carry the release's prefix (helm-e2e-sre-quero,
//   ...-reconciler, ...-enforced-logging), its namespaced ones live in a
//   namespace of its own: nothing is shared, nothing adopted;
// - its webhook entries and policy binding select only namespaces labelled
//   for this release (webhooks.namespaceSelector), so other files' pods never
//   reach it;
// - its reconciler is off: the reconciler acts on the whole cluster, and a
//   second one would reconcile the same ConfigMaps from its own template
//   (one per cluster; deploy/README.md, "Helm").
// The API server calls mutating webhook configurations in the order of their
// names: helm-e2e-sre-quero before sre-quero. So in this file's namespace the
// release injects first (its own logPath shows it) and the kustomize install
// then finds the pod injected and leaves it (already_injected). Its log is
// not checked: installed.test.ts may replace its replicas meanwhile.

const RELEASE = 'helm-e2e';
const FULLNAME = 'helm-e2e-sre-quero';
const RELEASE_NAMESPACE = 'helm-e2e-system';
const SCOPE_LABEL = 'e2e.sre-quero.io/helm-release';
const LOG_PATH = '/var/log/helm-e2e';
const UPGRADED_LOG_PATH = '/var/log/helm-e2e-upgraded';
const SIDECAR = 'logging.sre-quero/sidecar';
const SELECTOR = 'app.kubernetes.io/name=sre-quero,app.kubernetes.io/component=webhook';
const chart = join(repoRoot, 'deploy/helm/sre-quero');

/** Cluster-scoped objects of the release (reconciler RBAC left out: it is off). */
const CLUSTER_OBJECTS: [string, string, string][] = [
  ['mutatingwebhookconfiguration', '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations', FULLNAME],
  ['validatingadmissionpolicybinding', '/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings', `${FULLNAME}-enforced-logging`],
  ['validatingadmissionpolicy', '/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies', `${FULLNAME}-enforced-logging`],
  ['clusterrolebinding', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', `${FULLNAME}-reconciler`],
  ['clusterrole', '/apis/rbac.authorization.k8s.io/v1/clusterroles', `${FULLNAME}-reconciler`],
];
/** Where a namespaced object of the release could be left. */
const NAMESPACED = (ns: string): string[] => [
  `/api/v1/namespaces/${ns}/configmaps`,
  `/api/v1/namespaces/${ns}/secrets`,
  `/api/v1/namespaces/${ns}/services`,
  `/api/v1/namespaces/${ns}/serviceaccounts`,
  `/apis/apps/v1/namespaces/${ns}/deployments`,
  `/apis/policy/v1/namespaces/${ns}/poddisruptionbudgets`,
  `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/roles`,
  `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings`,
  `/apis/cert-manager.io/v1/namespaces/${ns}/certificates`,
];

const cluster = nodeClusterOrSkip();
const helm = helmPath();
const provisioned = readProvisioned();


if (cluster !== undefined && (!isExecutable(helm) || provisioned === undefined)) {
  t.fail(provisioned === undefined ? 'no provisioning manifest: run `bash test/cluster/provision.sh`' : HELM_HINT(helm));
} else if (cluster !== undefined && provisioned !== undefined) {
  const { api, kubectl } = cluster;
  // Install, two upgrades (one rolls the Deployment), uninstall with graceful
  // pod shutdown: more than the suite's 300 s per file when the node is busy.
  t.setTimeout(600_000);
  const home = mkdtempSync(join(tmpdir(), 'sre-quero-helm-e2e-'));
  const env = { ...process.env, HELM_CONFIG_HOME: join(home, 'config'), HELM_CACHE_HOME: join(home, 'cache'), HELM_DATA_HOME: join(home, 'data') };
  /** Runs helm against the suite's cluster without blocking the event loop. */
  const run = (args: string[]) => runCaptured(helm, ['--kubeconfig', cluster.kubeconfig, ...args], { env, timeoutMs: 240_000 });

  const [, repository = '', tag = ''] = /^(.*):([^:/]+)$/.exec(imageName(provisioned.images.sreQuero)) ?? [];
  // The agents' images provisioning built and imported, each allowed beside the defaults' repositories.
  const promtailImage = imageName(provisioned.images.promtail);
  const alloyImage = imageName(provisioned.images.alloy);
  const repositoryOf = (image: string) => image.replace(/:[^:/]+$/, '');
  const values = {
    image: { repository, tag, pullPolicy: 'IfNotPresent' },
    replicas: 1,
    // Injected reviews are logged at debug (refusals at info): the test reads them to see which webhook answered.
    logLevel: 'debug',
    reconciler: { enabled: false },
    webhooks: { namespaceSelector: { matchLabels: { [SCOPE_LABEL]: RELEASE } } },
    loki: { url: `${cluster.lokiUrl}/loki/api/v1/push` },
    certificates: { source: 'selfSigned' },
    images: { promtail: promtailImage, alloy: alloyImage },
    allowedImageRepositories: {
      promtail: ['grafana/promtail', 'docker.io/grafana/promtail', repositoryOf(promtailImage)],
      alloy: ['grafana/alloy', 'docker.io/grafana/alloy', repositoryOf(alloyImage)],
    },
    settings: { logPath: LOG_PATH },
  };
  const valuesFile = join(home, 'values.json');
  writeFileSync(valuesFile, JSON.stringify(values));

  /** Everything of the release, whatever state a failed run left it in; never throws. */
  const cleanup = async () => {
    const uninstalled = await run(['uninstall', RELEASE, '--namespace', RELEASE_NAMESPACE, '--ignore-not-found', '--wait=watcher', '--timeout', '90s']).catch((e: Error) => ({ status: -1, stderr: e.message }));
    if (uninstalled.status !== 0) t.comment(`cleanup: helm uninstall: ${uninstalled.stderr}`);
    // What Helm could not remove (an install killed half-way): the cluster-wide ones first.
    for (const [kind, , name] of CLUSTER_OBJECTS) await kubectl(['delete', kind, name, '--ignore-not-found']).catch(() => undefined);
    await kubectl(['delete', 'namespace', RELEASE_NAMESPACE, '--ignore-not-found', '--wait=false']).catch(() => undefined);
  };
  t.teardown(async () => {
    await cleanup();
    rmSync(home, { recursive: true, force: true });
  });

  const items = async (path: string, labelSelector?: string): Promise<Json[]> => {
    const reply = await api('GET', labelSelector === undefined ? path : `${path}?labelSelector=${encodeURIComponent(labelSelector)}`);
    if (reply.status === 404) return [];
    if (reply.status !== 200) throw new Error(`GET ${path}: ${reply.status} ${JSON.stringify(reply.body)}`);
    return (reply.body as Json).items as Json[];
  };
  const get = async (path: string): Promise<Json | undefined> => {
    const reply = await api('GET', path);
    return reply.status === 200 ? (reply.body as Json) : undefined;
  };
  const statusOf = (stored: Json): Json => JSON.parse(stored.metadata.annotations?.['logging.sre-quero/status'] ?? '{}') as Json;
  let probes = 0;
  /** Creates throw-away annotated pods until one comes back injected with `logPath`. */
  const injectedWith = (ns: string, logPath: string, timeoutMs = 90_000) =>
    waitFor(
      `a pod injected with logPath ${logPath}`,
      async () => {
        const name = `probe-${probes++}`;
        const reply = await api('POST', `/api/v1/namespaces/${ns}/pods`, pod(name, { [SIDECAR]: 'true' }, { nodeName: 'no-such-node' }));
        await api('DELETE', `/api/v1/namespaces/${ns}/pods/${name}?gracePeriodSeconds=0`);
        return reply.status === 201 && hasSidecar(reply.body) && statusOf(reply.body).logPath === logPath ? true : undefined;
      },
      timeoutMs,
      500,
    );
  /** The admission-review log lines of a Deployment's pods. */
  const reviews = async (ns: string): Promise<Json[]> => {
    const logs = await kubectl(['-n', ns, 'logs', '-l', SELECTOR, '--tail=-1', '--max-log-requests=10']);
    return logs.stdout.split('\n').flatMap((line) => {
      try {
        const parsed = JSON.parse(line) as Json;
        return parsed.msg === 'admission review' ? [parsed] : [];
      } catch {
        return []; // not a log line of the server's (or cut short)
      }
    });
  };
  const tlsSecret = () => get(`/api/v1/namespaces/${RELEASE_NAMESPACE}/secrets/${FULLNAME}-tls`);
  const caBundles = async (): Promise<string[]> =>
    ((await get(`/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${FULLNAME}`))?.webhooks ?? []).map((w: Json) => w.clientConfig.caBundle as string);

  // A run killed before its teardown may have left the release: start clean.
  await cleanup();
  await waitFor(`namespace ${RELEASE_NAMESPACE} gone`, async () => ((await get(`/api/v1/namespaces/${RELEASE_NAMESPACE}`)) === undefined ? true : undefined), 120_000, 1000);
  const apps = await namespaceFor(cluster, 'helm-e2e-apps', { [SCOPE_LABEL]: RELEASE });

  t.test('helm install: a pod is injected through the release’s webhook', async (t) => {
    const installed = await run(['install', RELEASE, chart, '--namespace', RELEASE_NAMESPACE, '--create-namespace', '--values', valuesFile, '--wait=watcher', '--timeout', '3m']);
    t.equal(installed.status, 0, 'helm install', { stdout: installed.stdout, stderr: installed.stderr });
    t.match(installed.stdout, `kubectl label namespace ${RELEASE_NAMESPACE} logging.sre-quero/injection=disabled`, 'NOTES: how to label the release namespace');
    const deployment = await get(`/apis/apps/v1/namespaces/${RELEASE_NAMESPACE}/deployments/${FULLNAME}`);
    t.equal(deployment?.status?.readyReplicas, 1, 'the webhook Deployment is ready');

    await injectedWith(apps, LOG_PATH);
    const created = await api('POST', `/api/v1/namespaces/${apps}/pods`, pod('through-helm', { [SIDECAR]: 'true' }, { nodeName: 'no-such-node' }));
    t.equal(created.status, 201);
    t.ok(hasSidecar(created.body), 'injected');
    t.match(statusOf(created.body), { agent: 'promtail', logPath: LOG_PATH, image: promtailImage }, "with the release's settings");
    const withAlloy = await api('POST', `/api/v1/namespaces/${apps}/pods`, pod('through-helm-alloy', { [SIDECAR]: 'true', 'logging.sre-quero/agent': 'alloy' }, { nodeName: 'no-such-node' }));
    t.equal(withAlloy.status, 201);
    t.match(statusOf(withAlloy.body), { agent: 'alloy', logPath: LOG_PATH, image: alloyImage }, "the agent annotation picks alloy, with the release's images.alloy");

    const helmReview = await waitFor('the review in the release’s webhook log', async () =>
      (await reviews(RELEASE_NAMESPACE)).find((line) => line.namespace === apps && line.pod === 'through-helm'),
    );
    t.match(helmReview, { mode: 'annotated', decision: 'injected' }, 'the release’s webhook injected it');
    const bundles = await caBundles();
    const secret = await tlsSecret();
    t.strictSame(bundles, [secret?.data['ca.crt'], secret?.data['ca.crt'], secret?.data['ca.crt']], 'every entry trusts the CA Helm made');
    t.equal((await items(`/apis/coordination.k8s.io/v1/namespaces/${RELEASE_NAMESPACE}/leases`)).length, 0, 'reconciler off: no Lease');
  });

  t.test('helm upgrade: replicas and a setting take effect; the certificate is kept, then renewed from the same CA', async (t) => {
    const before = await tlsSecret();
    const bundlesBefore = await caBundles();
    t.ok(before, 'the serving Secret');
    const upgraded = await run(['upgrade', RELEASE, chart, '--namespace', RELEASE_NAMESPACE, '--values', valuesFile, '--set', 'replicas=2', '--set', `settings.logPath=${UPGRADED_LOG_PATH}`, '--wait=watcher', '--timeout', '3m']);
    t.equal(upgraded.status, 0, 'helm upgrade', { stderr: upgraded.stderr });
    const rolled = await kubectl(['-n', RELEASE_NAMESPACE, 'rollout', 'status', `deployment/${FULLNAME}`, '--timeout=150s']);
    t.equal(rolled.status, 0, 'the settings change rolled the Deployment', { stderr: rolled.stderr });
    const live = await waitFor('two Ready webhook replicas', async () => {
      const pods = (await items(`/api/v1/namespaces/${RELEASE_NAMESPACE}/pods`, SELECTOR)).filter((p) => !p.metadata.deletionTimestamp && isReady(p));
      return pods.length === 2 ? pods : undefined;
    }, 90_000);
    t.equal(live.length, 2, 'replicas: 2');
    await injectedWith(apps, UPGRADED_LOG_PATH);
    t.pass(`new pods get logPath ${UPGRADED_LOG_PATH}`);

    const kept = await tlsSecret();
    t.equal(kept?.data['tls.crt'], before?.data['tls.crt'], 'the serving certificate is kept across the upgrade (lookup)');
    t.strictSame(await caBundles(), bundlesBefore, 'and so is the caBundle');

    // Within renewBeforeDays of expiry (here: always, the 365-day certificate
    // has less than 399 days left), an upgrade re-signs the certificate with
    // the same CA, which covers 400 days more: caBundle unchanged, nothing
    // restarts. (renewBeforeDays must stay under validityDays: the chart
    // refuses it otherwise.)
    const renewing = await run([
      'upgrade', RELEASE, chart, '--namespace', RELEASE_NAMESPACE, '--values', valuesFile,
      '--set', 'replicas=2', '--set', `settings.logPath=${UPGRADED_LOG_PATH}`, '--set', 'certificates.selfSigned.validityDays=400', '--set', 'certificates.selfSigned.renewBeforeDays=399',
      '--wait=watcher', '--timeout', '3m',
    ]);
    t.equal(renewing.status, 0, 'helm upgrade (renewal)', { stderr: renewing.stderr });
    const renewed = await tlsSecret();
    t.not(renewed?.data['tls.crt'], before?.data['tls.crt'], 'a new serving certificate');
    t.equal(renewed?.data['ca.crt'], before?.data['ca.crt'], 'from the same CA');
    t.strictSame(await caBundles(), bundlesBefore, 'caBundle unchanged');
    const ca = new X509Certificate(Buffer.from(renewed?.data['ca.crt'] ?? '', 'base64'));
    t.ok(new X509Certificate(Buffer.from(renewed?.data['tls.crt'] ?? '', 'base64')).checkIssued(ca), 'signed by it');
    await injectedWith(apps, UPGRADED_LOG_PATH);
    t.pass('still injecting');
  });

  t.test('helm uninstall: nothing of the release is left', async (t) => {
    const uninstalled = await run(['uninstall', RELEASE, '--namespace', RELEASE_NAMESPACE, '--wait=watcher', '--timeout', '2m']);
    t.equal(uninstalled.status, 0, 'helm uninstall', { stderr: uninstalled.stderr });
    const listed = await run(['list', '--namespace', RELEASE_NAMESPACE, '--all', '--short']);
    t.equal(listed.stdout.trim(), '', 'no release left');
    t.strictSame(await items(`/api/v1/namespaces/${RELEASE_NAMESPACE}/secrets`, `owner=helm,name=${RELEASE}`), [], "nor Helm's release records");

    for (const path of NAMESPACED(RELEASE_NAMESPACE)) {
      t.strictSame((await items(path, `app.kubernetes.io/instance=${RELEASE}`)).map((o) => o.metadata.name), [], `${path.split('/').pop()}: none of the release`);
    }
    t.strictSame(
      (await items(`/api/v1/namespaces/${RELEASE_NAMESPACE}/configmaps`)).map((o) => o.metadata.name).filter((n) => n !== 'kube-root-ca.crt'),
      [],
      'no ConfigMap but the one Kubernetes puts in every namespace',
    );
    t.strictSame(
      (await items(`/api/v1/namespaces/${RELEASE_NAMESPACE}/secrets`)).map((o) => o.metadata.name),
      [],
      'no Secret: the serving certificate and its CA went with the release',
    );
    t.strictSame((await items(`/apis/coordination.k8s.io/v1/namespaces/${RELEASE_NAMESPACE}/leases`)).map((o) => o.metadata.name), [], 'no Lease');
    await waitFor('the webhook pods gone', async () => ((await items(`/api/v1/namespaces/${RELEASE_NAMESPACE}/pods`, SELECTOR)).length === 0 ? true : undefined), 90_000, 1000);
    await waitFor('their ReplicaSets gone', async () => ((await items(`/apis/apps/v1/namespaces/${RELEASE_NAMESPACE}/replicasets`, SELECTOR)).length === 0 ? true : undefined), 60_000, 1000);
    for (const [kind, path, name] of CLUSTER_OBJECTS) {
      t.equal((await api('GET', `${path}/${name}`)).status, 404, `${kind} ${name} gone`);
      t.strictSame((await items(path, `app.kubernetes.io/instance=${RELEASE}`)).map((o) => o.metadata.name), [], `no ${kind} of the release`);
    }
    // The API server drops the configuration from its cache shortly after:
    // then the kustomize install alone injects here, with its own settings.
    await injectedWith(apps, '/var/log/app', 60_000);
    t.pass('new pods are injected by the kustomize install again');
    t.ok(await get(`/api/v1/namespaces/${RELEASE_NAMESPACE}`), 'the namespace, which Helm created but does not own, stays until the teardown deletes it');
  });
}
