import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parse, stringify } from 'yaml';
import { imageName } from '../cluster/local-cluster.js';
import { readProvisioned } from '../cluster/versions.js';
import { writeExample } from '../helpers/example-namespace.js';
import type { Json } from '../helpers/reviews.js';
import { hasSidecar, pod, waitFor } from './harness.js';
import type { NodeCluster } from './node-harness.js';

// A second sre-quero, installed with kustomize the way deploy/README.md
// ("Another namespace") tells a user to (deploy/overlays/example-namespace over
// overlays/self-signed, `sre-quero certs --namespace`), next to the suite's
// install in namespace sre-quero, which other test files use at the same
// time. So, on top of the example, what keeps the two apart (as helm.test.ts
// does for its release):
// - namePrefix: every name gets the prefix, the cluster-scoped ones included,
//   so nothing of the suite's install is replaced; the webhooks' Service name
//   follows by a patch (kustomize does not rewrite it), the certificate names
//   the prefixed Service;
// - its webhook entries and policy binding also need the namespace label
//   `scopeLabel`, so other files' pods never reach it;
// - its reconciler is off: a second reconciler would act on the whole cluster
//   with the same field manager, and its Lease lives in its own namespace, so
//   both would lead at once;
// - its settings' logPath tells its injections from the suite's. The API
//   server calls mutating webhook configurations in the order of their names:
//   a prefix before "sre-quero" lets it inject first in its namespaces.

export interface SecondInstall {
  prefix: string;
  /** `<prefix>sre-quero`: the Deployment, Service, webhook configuration... */
  fullname: string;
  namespace: string;
  scopeLabel: string;
  scopeValue: string;
  logPath: string;
  /** The kustomization to apply. */
  dir: string;
}

export function writeSecondInstall(workdir: string, options: { prefix: string; namespace: string; scopeLabel: string; scopeValue: string; logPath: string }): SecondInstall {
  const { prefix, namespace, scopeLabel, scopeValue, logPath } = options;
  const fullname = `${prefix}sre-quero`;
  const example = writeExample(workdir, { namespace, variant: 'self-signed', service: fullname });
  const dir = join(workdir, 'deploy/overlays', `${prefix}e2e`);
  mkdirSync(dir, { recursive: true });

  const settings = parse(readFileSync(join(workdir, 'deploy/base/settings.yaml'), 'utf8')) as Json;
  const settingsFile = parse(settings.data['settings.yaml']) as Json;
  settingsFile.logPath = logPath;
  writeFileSync(join(dir, 'settings.yaml'), stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'sre-quero-settings', namespace }, data: { 'settings.yaml': stringify(settingsFile) } }));
  writeFileSync(
    join(dir, 'deployment.yaml'),
    stringify({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'sre-quero', namespace },
      spec: {
        replicas: 1,
        template: {
          spec: {
            containers: [
              {
                name: 'sre-quero',
                env: [
                  { name: 'SRE_QUERO_RECONCILER', value: 'off' },
                  // Injected reviews are logged at debug: the test reads them to see which webhook answered.
                  { name: 'SRE_QUERO_LOG_LEVEL', value: 'debug' },
                ],
              },
            ],
          },
        },
      },
    }),
  );
  // (a value YAML 1.1 reads as a string: kustomize would turn `yes` or `on` into a boolean)
  const scope = { matchLabels: { [scopeLabel]: scopeValue } };
  const webhookOps = [0, 1, 2].flatMap((i) => [
    { op: 'replace', path: `/webhooks/${i}/clientConfig/service/name`, value: fullname },
    { op: 'add', path: `/webhooks/${i}/namespaceSelector/matchLabels`, value: scope.matchLabels },
  ]);
  const [, repository = '', tag = ''] = /^(.*):([^:/]+)$/.exec(imageName(readProvisioned()?.images.sreQuero ?? '')) ?? [];
  writeFileSync(
    join(dir, 'kustomization.yaml'),
    stringify({
      apiVersion: 'kustomize.config.k8s.io/v1beta1',
      kind: 'Kustomization',
      namePrefix: prefix,
      resources: [relative(dir, example)],
      images: [{ name: 'ghcr.io/sre-quero/sre-quero', newName: repository, newTag: tag }],
      patches: [
        { path: 'settings.yaml' },
        { path: 'deployment.yaml' },
        { target: { group: 'admissionregistration.k8s.io', version: 'v1', kind: 'MutatingWebhookConfiguration', name: 'sre-quero' }, patch: stringify(webhookOps) },
        {
          target: { group: 'admissionregistration.k8s.io', version: 'v1', kind: 'ValidatingAdmissionPolicyBinding', name: 'sre-quero-enforced-logging' },
          patch: stringify([
            { op: 'add', path: '/spec/matchResources/namespaceSelector/matchLabels', value: scope.matchLabels },
            { op: 'replace', path: '/spec/policyName', value: `${fullname}-enforced-logging` },
          ]),
        },
      ],
    }),
  );
  return { prefix, fullname, namespace, scopeLabel, scopeValue, logPath, dir };
}

/** What `kubectl kustomize` makes of it. */
export async function rendered(cluster: NodeCluster, install: SecondInstall): Promise<Json[]> {
  const result = await cluster.kubectl(['kustomize', install.dir]);
  if (result.status !== 0) throw new Error(`kubectl kustomize ${install.dir}: ${result.stderr}`);
  return result.stdout
    .split(/^---$/m)
    .map((doc) => parse(doc) as Json)
    .filter(Boolean);
}

/** Applies it and waits for its one webhook replica. */
export async function applySecondInstall(cluster: NodeCluster, install: SecondInstall): Promise<void> {
  const applied = await cluster.kubectl(['apply', '-k', install.dir]);
  if (applied.status !== 0) throw new Error(`kubectl apply -k ${install.dir}: ${applied.stderr}`);
  const rolled = await cluster.kubectl(['-n', install.namespace, 'rollout', 'status', `deployment/${install.fullname}`, '--timeout=180s']);
  if (rolled.status !== 0) throw new Error(`rollout of ${install.fullname}: ${rolled.stderr}`);
}

/** Whatever a failed or killed run left of it; never throws. */
export async function removeSecondInstall(cluster: NodeCluster, install: SecondInstall): Promise<void> {
  await cluster.kubectl(['delete', '-k', install.dir, '--ignore-not-found', '--wait=false']).catch(() => undefined);
  await cluster.kubectl(['delete', 'namespace', install.namespace, '--ignore-not-found', '--wait=false']).catch(() => undefined);
}

/** The review lines its webhook logged. */
export async function reviews(cluster: NodeCluster, install: SecondInstall): Promise<Json[]> {
  const logs = await cluster.kubectl(['-n', install.namespace, 'logs', `deployment/${install.fullname}`, '--tail=-1']);
  return logs.stdout.split('\n').flatMap((line) => {
    try {
      const parsed = JSON.parse(line) as Json;
      return parsed.msg === 'admission review' ? [parsed] : [];
    } catch {
      return [];
    }
  });
}

let probes = 0;
/** Creates throw-away annotated pods (stored, never run) in `namespace` until one comes back injected with `logPath`; returns it. */
export function injectedWith(cluster: NodeCluster, namespace: string, logPath: string, timeoutMs = 90_000): Promise<Json> {
  return waitFor(
    `a pod in ${namespace} injected with logPath ${logPath}`,
    async () => {
      const name = `probe-${process.pid}-${probes++}`;
      const reply = await cluster.api('POST', `/api/v1/namespaces/${namespace}/pods`, pod(name, { 'logging.sre-quero/sidecar': 'true' }, { nodeName: 'no-such-node' }));
      await cluster.api('DELETE', `/api/v1/namespaces/${namespace}/pods/${name}?gracePeriodSeconds=0`);
      const status = JSON.parse(reply.body?.metadata?.annotations?.['logging.sre-quero/status'] ?? '{}') as Json;
      return reply.status === 201 && hasSidecar(reply.body) && status.logPath === logPath ? (reply.body as Json) : undefined;
    },
    timeoutMs,
    500,
  );
}
