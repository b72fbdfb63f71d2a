import { UninstallFailedError } from '../errors.js';
import { INJECTED_SELECTOR, portsWeOwn, type ServiceLike } from '../reconciler/model.js';
import { FIELD_MANAGER, INSTALL_LABEL, INSTALL_LABEL_VALUE, LEASE_NAME, MANAGED_BY_LABEL, MANAGED_BY_VALUE, POLICY_NAME_SUFFIX, RECONCILER_RBAC_SUFFIX } from '../webhook-contract.js';
import type { Kind, KubeObject, UninstallApi } from './api.js';

// `sre-quero uninstall`: removes one install (the one in `namespace`) and
// what its reconciler wrote, in an order that never leaves the cluster worse
// off half-way:
//   1. the webhook configurations calling a Service in the namespace, so no
//      pod is injected (or refused) by a server about to go;
//   2. the enforcement policy's binding, then the policy;
//   3. the server: its Deployment and the reconciler's cluster RBAC, then a
//      wait until its pods are gone, so its reconciler cannot put back what
//      step 4 removes;
//   4. what the reconciler wrote in application namespaces: the Service
//      ports its field manager owns (released by the same server-side apply
//      the reconciler uses, so a port a user also owns stays) and the
//      ConfigMaps labelled as managed by it;
//   5. the rest of the namespace's objects, the Lease, and the namespace
//      itself when the install created it (deploy/base's Namespace carries
//      the install label; Helm's --create-namespace one does not).
// Every step lists before it deletes, so a second run (or one after a
// failure) finds what is left and finishes: idempotent. With dryRun nothing
// is written; every line says "would".

export interface UninstallOptions {
  /** The install's namespace. */
  namespace: string;
  /**
   * Label selector of the application namespaces whose reconciled objects go
   * (step 4). Without it: every namespace, unless another install still runs
   * a reconciler (it would put them back, and they are its objects too).
   */
  appNamespaces?: string;
  dryRun: boolean;
  /** How long step 3 waits for the webhook pods to stop. */
  stopTimeoutMs: number;
}

export interface UninstallDeps {
  api: UninstallApi;
  print(line: string): void;
  sleep(ms: number): Promise<void>;
  now(): number;
}

export interface UninstallResult {
  /** `Kind namespace/name` of everything deleted (or that would be). */
  deleted: string[];
  /** `namespace/name port/protocol` of every Service port released. */
  released: string[];
  /** Why each thing found was left. */
  kept: string[];
}

const INSTALL_SELECTOR = `${INSTALL_LABEL}=${INSTALL_LABEL_VALUE}`;
/** The reconciler's ConfigMaps (reconciler/api.ts MANAGED_SELECTOR). */
const MANAGED_SELECTOR = `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}`;
const WEBHOOK_SELECTOR = `${INSTALL_SELECTOR},app.kubernetes.io/component=webhook`;
/** Namespaced kinds of the install, deleted in this order after the Deployment: users of an object before it. */
const NAMESPACED_KINDS: Kind[] = ['Service', 'PodDisruptionBudget', 'RoleBinding', 'Role', 'ServiceAccount', 'ConfigMap', 'Certificate', 'Issuer', 'Secret'];

const label = (kind: Kind, object: KubeObject): string => `${kind} ${object.metadata.namespace ? `${object.metadata.namespace}/` : ''}${object.metadata.name}`;
const stripSuffix = (name: string | undefined, suffix: string): string | undefined => (name?.endsWith(suffix) ? name.slice(0, -suffix.length) : undefined);

/** Whether a webhook Deployment runs the reconciler: not when told `off` (SRE_QUERO_RECONCILER, or --reconciler off). */
export function runsReconciler(deployment: KubeObject): boolean {
  if (deployment.spec?.replicas === 0) return false;
  return (deployment.spec?.template?.spec?.containers ?? []).some((container) => {
    const args = container.args ?? [];
    const flag = args.findIndex((arg) => arg === '--reconciler' || arg.startsWith('--reconciler='));
    const fromFlag = flag < 0 ? undefined : args[flag]?.includes('=') ? args[flag]?.split('=')[1] : args[flag + 1];
    const fromEnv = container.env?.find((env) => env.name === 'SRE_QUERO_RECONCILER')?.value;
    return (fromFlag ?? fromEnv) !== 'off';
  });
}

type FieldsV1 = { 'f:spec'?: { 'f:ports'?: Record<string, unknown> } };
/** The field managers other than the reconciler's apply that own this port too. */
function coOwners(service: KubeObject, port: { port: number; protocol: string }): string[] {
  const key = `k:${JSON.stringify({ port: port.port, protocol: port.protocol })}`;
  return (service.metadata.managedFields ?? [])
    .filter((entry) => !(entry.manager === FIELD_MANAGER && entry.operation === 'Apply'))
    .filter((entry) => (entry.fieldsV1 as FieldsV1 | undefined)?.['f:spec']?.['f:ports']?.[key] !== undefined)
    .map((entry) => entry.manager ?? '(unnamed)');
}

export async function uninstall(deps: UninstallDeps, options: UninstallOptions): Promise<UninstallResult> {
  const { api, print } = deps;
  const { namespace, dryRun } = options;
  const result: UninstallResult = { deleted: [], released: [], kept: [] };
  let step = 'finding the install';
  const guarded = async <T>(what: string, run: () => Promise<T>): Promise<T> => {
    step = what;
    try {
      return await run();
    } catch (error) {
      throw new UninstallFailedError(step, error instanceof Error ? error.message : String(error));
    }
  };
  const remove = async (kind: Kind, object: KubeObject): Promise<void> => {
    const what = label(kind, object);
    if (object.metadata.deletionTimestamp) {
      print(`${what}: being deleted already`);
      return;
    }
    if (dryRun) {
      print(`would delete ${what}`);
      result.deleted.push(what);
      return;
    }
    const gone = await guarded(`deleting ${what}`, () => api.remove(kind, object.metadata.name as string, object.metadata.namespace));
    print(gone ? `deleted ${what}` : `${what}: gone already`);
    if (gone) result.deleted.push(what);
  };

  // What belongs to the install, found before anything goes (a later step may need what an earlier one deletes).
  const found = await guarded(`finding the sre-quero install in namespace ${namespace}`, async () => {
    const callsHere = (config: KubeObject) => (config.webhooks ?? []).some((webhook) => webhook.clientConfig?.service?.namespace === namespace);
    const mutating = (await api.list('MutatingWebhookConfiguration', { labelSelector: INSTALL_SELECTOR })).filter(callsHere);
    const validating = (await api.list('ValidatingWebhookConfiguration', { labelSelector: INSTALL_SELECTOR })).filter(callsHere);
    const deployments = await api.list('Deployment', { namespace, labelSelector: INSTALL_SELECTOR });
    const roleBindings = (await api.list('ClusterRoleBinding', { labelSelector: INSTALL_SELECTOR })).filter((binding) =>
      (binding.subjects ?? []).some((subject) => subject.kind === 'ServiceAccount' && subject.namespace === namespace),
    );
    const namespaced = new Map<Kind, KubeObject[]>();
    for (const kind of NAMESPACED_KINDS) namespaced.set(kind, await api.list(kind, { namespace, labelSelector: INSTALL_SELECTOR }));
    // The install's name (deploy/base: sre-quero; a kustomize namePrefix or a Helm release prefixes it): what the
    // cluster-wide names start with. Read from every object that carries it, so a run that resumes after a failure
    // (the webhooks and the Deployment gone already) still finds the rest: the namespaced ones go last.
    const names = new Set(
      [...mutating, ...validating, ...deployments, ...(namespaced.get('Service') ?? []), ...(namespaced.get('ServiceAccount') ?? [])]
        .map((o) => o.metadata.name)
        .concat(roleBindings.map((b) => stripSuffix(b.metadata.name, RECONCILER_RBAC_SUFFIX))),
    );
    names.delete(undefined);
    const ofInstall = (name: string | undefined, suffix: string) => names.has(stripSuffix(name, suffix));
    const policyBindings = (await api.list('ValidatingAdmissionPolicyBinding', { labelSelector: INSTALL_SELECTOR })).filter((b) => ofInstall(b.metadata.name, POLICY_NAME_SUFFIX));
    const policies = (await api.list('ValidatingAdmissionPolicy', { labelSelector: INSTALL_SELECTOR })).filter(
      (p) => ofInstall(p.metadata.name, POLICY_NAME_SUFFIX) || policyBindings.some((b) => b.spec?.policyName === p.metadata.name),
    );
    const roles = (await api.list('ClusterRole', { labelSelector: INSTALL_SELECTOR })).filter(
      (role) => ofInstall(role.metadata.name, RECONCILER_RBAC_SUFFIX) || roleBindings.some((b) => b.roleRef?.kind === 'ClusterRole' && b.roleRef.name === role.metadata.name),
    );
    // Secrets the install uses but did not label: its certificate's (`sre-quero certs` before it labelled it:
    // <name>-tls), cert-manager's (the Certificates' secretName; the CA's is <name>-ca).
    const secretNames = new Set([
      ...deployments.flatMap((d) => (d.spec?.template?.spec?.volumes ?? []).map((v) => v.secret?.secretName)),
      ...(namespaced.get('Certificate') ?? []).map((c) => c.spec?.secretName),
      ...[...names].flatMap((name) => [`${name}-tls`, `${name}-ca`]),
    ]);
    const labelled = new Set((namespaced.get('Secret') ?? []).map((s) => s.metadata.name));
    for (const name of secretNames) {
      if (name === undefined || labelled.has(name)) continue;
      const secret = await api.get('Secret', name, namespace);
      if (secret !== undefined) namespaced.get('Secret')?.push(secret);
    }
    const lease = await api.get('Lease', LEASE_NAME, namespace);
    const namespaceObject = await api.get('Namespace', namespace);
    const otherReconcilers = (await api.list('Deployment', { labelSelector: WEBHOOK_SELECTOR })).filter((d) => d.metadata.namespace !== namespace && runsReconciler(d));
    return { mutating, validating, deployments, roleBindings, policyBindings, policies, roles, namespaced, lease, namespaceObject, otherReconcilers };
  });

  // 1. Admission first: from here on no pod is sent to this install.
  for (const config of found.mutating) await remove('MutatingWebhookConfiguration', config);
  for (const config of found.validating) await remove('ValidatingWebhookConfiguration', config);
  // 2. Enforcement: the binding (what makes the policy act), then the policy.
  for (const binding of found.policyBindings) await remove('ValidatingAdmissionPolicyBinding', binding);
  for (const policy of found.policies) await remove('ValidatingAdmissionPolicy', policy);

  // 3. The server, so its reconciler stops writing: the Deployment, the reconciler's rights, then its pods gone.
  for (const deployment of found.deployments) await remove('Deployment', deployment);
  for (const binding of found.roleBindings) await remove('ClusterRoleBinding', binding);
  for (const role of found.roles) await remove('ClusterRole', role);
  if (found.deployments.length > 0 && !dryRun) {
    await guarded(`waiting for the webhook pods in ${namespace} to stop`, async () => {
      const deadline = deps.now() + options.stopTimeoutMs;
      for (let waited = false; ; waited = true) {
        const running = await api.list('Pod', { namespace, labelSelector: INSTALL_SELECTOR });
        if (running.length === 0) {
          if (waited) print(`the webhook pods in ${namespace} have stopped`);
          return;
        }
        if (deps.now() >= deadline) {
          print(`warning: ${running.length} webhook pod(s) in ${namespace} still running after ${Math.round(options.stopTimeoutMs / 1000)} s; going on (run uninstall again once they are gone if their reconciler put something back)`);
          return;
        }
        if (!waited) print(`waiting for ${running.length} webhook pod(s) in ${namespace} to stop`);
        await deps.sleep(1000);
      }
    });
  }

  // 4. What the reconciler wrote in application namespaces.
  await removeReconciled(deps, options, found.otherReconcilers, result, guarded, remove);

  // 5. The rest of the install namespace.
  for (const kind of NAMESPACED_KINDS) for (const object of found.namespaced.get(kind) ?? []) await remove(kind, object);
  if (found.lease !== undefined) await remove('Lease', found.lease);
  const ns = found.namespaceObject;
  if (ns !== undefined) {
    if (ns.metadata.labels?.[INSTALL_LABEL] === INSTALL_LABEL_VALUE) await remove('Namespace', ns);
    else {
      const why = `Namespace ${namespace}: kept, sre-quero did not create it (no ${INSTALL_SELECTOR} label); delete it yourself if nothing else lives there`;
      print(why);
      result.kept.push(why);
    }
  }

  const injected = await guarded('counting injected pods', () => api.list('Pod', { labelSelector: INJECTED_SELECTOR }));
  const live = injected.filter((pod) => !pod.metadata.deletionTimestamp);
  if (live.length > 0) {
    const namespaces = [...new Set(live.map((pod) => pod.metadata.namespace))].sort();
    print(
      `${live.length} pod(s) injected by sre-quero keep their sidecar until they are recreated (namespaces: ${namespaces.join(', ')}): ` +
        `kubectl rollout restart deployment/<name> -n <namespace> on their workloads removes it`,
    );
  }
  const did = dryRun ? 'would delete' : 'deleted';
  print(
    result.deleted.length === 0 && result.released.length === 0
      ? `nothing to remove: no sre-quero install in namespace ${namespace}, nor anything its reconciler wrote${result.kept.length > 0 ? ' that could go' : ''}`
      : `${dryRun ? 'dry run: ' : ''}${did} ${result.deleted.length} object(s), ${dryRun ? 'would release' : 'released'} ${result.released.length} Service port(s)`,
  );
  return result;
}

async function removeReconciled(
  deps: UninstallDeps,
  options: UninstallOptions,
  otherReconcilers: KubeObject[],
  result: UninstallResult,
  guarded: <T>(what: string, run: () => Promise<T>) => Promise<T>,
  remove: (kind: Kind, object: KubeObject) => Promise<void>,
): Promise<void> {
  const { api, print } = deps;
  if (options.appNamespaces === undefined && otherReconcilers.length > 0) {
    const where = [...new Set(otherReconcilers.map((d) => d.metadata.namespace))].sort().join(', ');
    const why =
      `reconciled Service ports and ConfigMaps: kept, the sre-quero install in namespace ${where} still reconciles them (the same field manager, ${FIELD_MANAGER}); ` +
      `uninstall that one to remove them, or name the namespaces to clean with --app-namespaces <label selector>`;
    print(why);
    result.kept.push(why);
    return;
  }
  const scope = await guarded('finding what the reconciler wrote', async () => {
    if (options.appNamespaces === undefined) return { services: await api.list('Service'), configMaps: await api.list('ConfigMap', { labelSelector: MANAGED_SELECTOR }) };
    const namespaces = (await api.list('Namespace', { labelSelector: options.appNamespaces })).map((ns) => ns.metadata.name as string);
    const services: KubeObject[] = [];
    const configMaps: KubeObject[] = [];
    for (const namespace of namespaces) {
      services.push(...(await api.list('Service', { namespace })));
      configMaps.push(...(await api.list('ConfigMap', { namespace, labelSelector: MANAGED_SELECTOR })));
    }
    return { services, configMaps };
  });

  for (const service of scope.services) {
    const owned = portsWeOwn(service as ServiceLike);
    if (owned.length === 0) continue;
    const { namespace, name } = service.metadata as { namespace: string; name: string };
    const describe = (port: { port: number; protocol: string }) => {
      const named = service.spec?.ports?.find((p) => p.port === port.port && (p.protocol ?? 'TCP') === port.protocol)?.name;
      return `port ${named ?? '(unnamed)'} (${port.port}/${port.protocol}) of Service ${namespace}/${name}`;
    };
    // A port another field manager owns too (the app's own apply, kubectl edit...) stays: the release only drops sre-quero's claim on it.
    const ours: { port: number; protocol: string }[] = [];
    for (const port of owned) {
      const owners = coOwners(service, port);
      if (owners.length === 0) ours.push(port);
      else {
        const why = `${describe(port)}: kept, ${owners.join(', ')} owns it too`;
        print(why);
        result.kept.push(why);
      }
    }
    if (options.dryRun) {
      for (const port of ours) {
        print(`would release ${describe(port)}`);
        result.released.push(`${namespace}/${name} ${port.port}/${port.protocol}`);
      }
      continue;
    }
    const outcome = await guarded(`releasing sre-quero's ports of Service ${namespace}/${name}`, () => api.releaseServicePorts(namespace, name));
    if (outcome.ok) {
      for (const port of ours) {
        print(`released ${describe(port)}`);
        result.released.push(`${namespace}/${name} ${port.port}/${port.protocol}`);
      }
    } else if (outcome.status === 404) {
      print(`Service ${namespace}/${name}: gone already`);
    } else {
      const why = `${ours.map(describe).join(', ') || `sre-quero's ports of Service ${namespace}/${name}`}: kept, the API server refused to drop them (${outcome.status}: ${outcome.message})${outcome.status === 422 ? '; a Service needs a port: delete the Service, or add one of yours' : ''}`;
      print(why);
      result.kept.push(why);
    }
  }
  for (const configMap of scope.configMaps) await remove('ConfigMap', configMap);
}
