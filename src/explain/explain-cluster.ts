import { restartHint, topOwner, type ObjectRef, type OwnerReads } from '../cluster/owners.js';
import { NAMESPACE_LABEL } from '../injection/index.js';
import { ESCAPE_REASONS, escapedPods, INJECTION_NAMESPACE_SELECTOR, injectionModeOf, neverInjected, type EscapedPod, type EscapeReason } from '../reconciler/escaped-pods.js';
import type { ExplainReads } from './cluster-reads.js';
import { installSettings } from './install-settings.js';
import type { LiveOptions } from './explain-live.js';
import { checkEntries } from './webhook-routing.js';

// `sre-quero explain cluster`: the pods that escaped injection (the same
// detection as the reconciler's sre_quero_escaped_pods, escaped-pods.ts), by
// namespace and by the workload to restart, with the command that does it.
// It lists; it never restarts anything.

export interface EscapedGroup {
  /** The workload to restart (a Deployment behind its ReplicaSet...), or the pod itself. */
  owner: ObjectRef | undefined;
  reason: EscapeReason;
  detail: string;
  pods: string[];
  fix: string;
}

export interface ClusterReport {
  settingsFrom: string;
  namespaces: { name: string; label: string | undefined; groups: EscapedGroup[] }[];
  counts: Record<EscapeReason, number>;
}

export async function explainCluster(reads: ExplainReads, options: LiveOptions & { namespace?: string | undefined } = {}): Promise<ClusterReport> {
  const configurations = await reads.mutatingWebhookConfigurations();
  // Only for where the install's settings are: every entry names the same Service.
  const { settings, from, installNamespace } = await installSettings(reads, checkEntries(configurations, {}, { labels: {}, annotations: {} }), options);
  const labelled = new Map(
    (await reads.namespaces(INJECTION_NAMESPACE_SELECTOR)).filter((ns) => !neverInjected(ns.name, installNamespace)).map((ns) => [ns.name, ns.labels[NAMESPACE_LABEL]] as const),
  );
  const found: EscapedPod[] = [];
  const scan = async (namespace: string) => found.push(...escapedPods(await reads.runningPods(namespace), injectionModeOf({ [NAMESPACE_LABEL]: labelled.get(namespace) ?? '' }), settings));
  if (options.namespace !== undefined) await scan(options.namespace);
  else {
    for (const namespace of [...labelled.keys()].sort()) await scan(namespace);
    // Elsewhere only injected pods can be out of date.
    const elsewhere = (await reads.runningInjectedPods()).filter((pod) => !labelled.has(pod.metadata?.namespace ?? ''));
    found.push(...escapedPods(elsewhere, undefined, settings));
  }

  const owners = cachedOwners(reads);
  const byNamespace = new Map<string, Map<string, EscapedGroup>>();
  const counts = Object.fromEntries(ESCAPE_REASONS.map((reason) => [reason, 0])) as Record<EscapeReason, number>;
  for (const pod of found) {
    counts[pod.reason]++;
    const owner = await topOwner(pod.namespace, { name: pod.name, uid: pod.uid, ownerReferences: pod.owner ? [{ ...pod.owner, controller: true }] : undefined }, owners);
    const key = `${owner?.kind}/${owner?.name}\u0000${pod.reason}\u0000${pod.detail}`;
    let groups = byNamespace.get(pod.namespace);
    if (groups === undefined) byNamespace.set(pod.namespace, (groups = new Map()));
    const group = groups.get(key);
    if (group !== undefined) group.pods.push(pod.name);
    else groups.set(key, { owner, reason: pod.reason, detail: pod.detail, pods: [pod.name], fix: owner === undefined ? 'create it again' : restartHint(owner, pod.namespace) });
  }
  return {
    settingsFrom: from,
    namespaces: [...byNamespace.keys()].sort().map((name) => ({ name, label: labelled.get(name), groups: [...(byNamespace.get(name) as Map<string, EscapedGroup>).values()] })),
    counts,
  };
}

/** Owner reads remembered for the run: many pods share a ReplicaSet. */
function cachedOwners(reads: OwnerReads): OwnerReads {
  const known = new Map<string, Promise<ObjectRef | undefined>>();
  return {
    controllerOf: (kind, namespace, name) => {
      const key = `${namespace}/${kind}/${name}`;
      let owner = known.get(key);
      if (owner === undefined) known.set(key, (owner = reads.controllerOf(kind, namespace, name)));
      return owner;
    },
  };
}

export function formatCluster(report: ClusterReport): string {
  const total = Object.values(report.counts).reduce((sum, count) => sum + count, 0);
  const lines = [`settings: ${report.settingsFrom}`];
  if (total === 0) {
    lines.push(
      `no escaped pods: every running pod in namespaces labelled ${NAMESPACE_LABEL}=enabled or enforced carries the sidecar, and every sidecar runs the agent and image the settings give`,
    );
    return `${lines.join('\n')}\n`;
  }
  for (const namespace of report.namespaces) {
    const count = namespace.groups.reduce((sum, group) => sum + group.pods.length, 0);
    lines.push(`namespace ${namespace.name}${namespace.label === undefined ? '' : ` (${NAMESPACE_LABEL}=${namespace.label})`}: ${count} escaped pod${count === 1 ? '' : 's'}`);
    for (const group of namespace.groups) {
      const owner = group.owner === undefined ? 'pod' : `${group.owner.kind} ${group.owner.name}`;
      lines.push(`  ${owner}: ${group.reason}: ${group.pods.join(', ')}`, `    ${group.detail}`, `    fix: ${group.fix}`);
    }
  }
  const byReason = ESCAPE_REASONS.filter((reason) => report.counts[reason] > 0).map((reason) => `${reason} ${report.counts[reason]}`);
  lines.push(
    `${total} escaped pod${total === 1 ? '' : 's'} in ${report.namespaces.length} namespace${report.namespaces.length === 1 ? '' : 's'} (${byReason.join(', ')}); sre-quero restarts nothing itself`,
  );
  return `${lines.join('\n')}\n`;
}
