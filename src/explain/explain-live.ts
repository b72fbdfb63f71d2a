import { controllerRef, restartHint, topOwner } from '../cluster/owners.js';
import { isCodedError } from '../errors.js';
import { explain, injectPod, isInjected, NAMESPACE_LABEL, readStatus, type PodTemplate } from '../injection/index.js';
import { REFUSAL_EVENT_REASON } from '../admission/refusal-events.js';
import { neverInjected } from '../reconciler/escaped-pods.js';
import type { ExplainReads, ReadObject, WorkloadKind } from './cluster-reads.js';
import { installSettings } from './install-settings.js';
import { checkEntries, type EntryCheck } from './webhook-routing.js';

// "Why was my pod (not) injected?", live: `sre-quero explain pod NAME -n NS`
// (or deployment, statefulset, daemonset, replicaset, job, cronjob). Reads
// the object, its namespace's labels, sre-quero's webhook configuration and
// the installed settings (through ExplainReads), then says whether the pod
// carries the sidecar now, which webhook entry the API server would call for
// it, what the webhook would decide today with its reason code, and what to
// change. A pod made by a workload is explained by the workload's template:
// that is what its next pod is made from. A refused pod never exists, so the
// workload is what to ask about (`explain deployment web`).

export type LiveDecision = 'injected' | 'skipped' | 'refused' | 'not_sent';

export interface LiveExplanation {
  /** "pod shop/web-1", "deployment shop/web". */
  subject: string;
  /** Pods only: the sidecar it carries now, from its status annotation. */
  now?: { injected: false } | { injected: true; agent: string; sidecarMode?: string; image?: string };
  namespace: { name: string; label: string | undefined };
  /** What the decision was made on. */
  evaluated: string;
  entries: EntryCheck[];
  settingsFrom: string;
  decision: LiveDecision;
  reason: string;
  why: string;
  change: string;
  /** Injected: the agent, and who chose it. */
  agent?: string;
  /** The entry the API server calls, and its mode. */
  sentTo?: string;
  warnings: string[];
  notes: string[];
}

export interface LiveOptions {
  installNamespace?: string | undefined;
  settingsFile?: string | undefined;
}

/** A pod's controller whose template makes its next pod (a Deployment's pods come from its ReplicaSet). */
const TEMPLATE_OWNERS: Readonly<Record<string, WorkloadKind>> = { ReplicaSet: 'replicaset', StatefulSet: 'statefulset', DaemonSet: 'daemonset', Job: 'job' };

export async function explainLive(reads: ExplainReads, kind: WorkloadKind, namespace: string, name: string, options: LiveOptions = {}): Promise<LiveExplanation> {
  const object = await reads.object(kind, namespace, name);
  const labels = (await reads.namespace(namespace)).labels;
  const configurations = await reads.mutatingWebhookConfigurations();
  const notes: string[] = [];
  const { template, evaluated } = await templateOf(reads, kind, object, notes);
  const annotations = template.metadata?.annotations ?? {};
  const entries = checkEntries(configurations, labels, { labels: template.metadata?.labels ?? {}, annotations });
  // The entry that is called, else one left out only by its matchConditions:
  // they repeat the webhook's own "was it asked for?" (annotated namespaces),
  // so its answer for the pod is the webhook's answer.
  const sent = entries.find((entry) => entry.sent && entry.mode !== undefined) ?? entries.find((entry) => entry.failedOn === 'matchCondition' && entry.mode !== undefined);
  const { settings, from, installNamespace } = await installSettings(reads, entries, options, sent);
  const subject = `${kind} ${namespace}/${name}`;
  const base = { subject, namespace: { name: namespace, label: labels[NAMESPACE_LABEL] }, evaluated, entries, settingsFrom: from, notes, warnings: [] as string[] };
  let explained: LiveExplanation;
  if (sent?.mode !== undefined) {
    const result = injectPod(template, settings, sent.mode);
    explained = {
      ...base,
      ...explain(result, { annotations, settings }),
      warnings: result.kind === 'injected' ? result.warnings : [],
      sentTo: sent.sent ? `${sent.entry} (mode ${sent.mode})` : `none: ${sent.entry} is left out by its matchConditions (the webhook's answer if it were called is below)`,
    };
    const unevaluated = entries.flatMap((entry) => entry.unevaluated);
    if (unevaluated.length > 0) notes.push(`matchConditions not evaluated here, assumed to hold: ${unevaluated.join(', ')}`);
    if (result.kind === 'refused') notes.push(`the webhook records this refusal as a Warning Event (${REFUSAL_EVENT_REASON}): kubectl get events -n ${namespace} --field-selector reason=${REFUSAL_EVENT_REASON}`);
    if (kind === 'pod') await notePodNow(reads, object, namespace, result.kind === 'injected' ? readStatus(result.pod.metadata?.annotations) : undefined, notes);
  } else {
    explained = { ...base, ...notSent(entries, namespace, labels, installNamespace) };
  }
  if (kind === 'pod') explained.now = nowOf(object.template);
  return explained;
}

/** What the decision is made on: a workload's template; for a pod, its controller's template when it can be read. */
async function templateOf(reads: ExplainReads, kind: WorkloadKind, object: ReadObject, notes: string[]): Promise<{ template: PodTemplate; evaluated: string }> {
  if (kind !== 'pod') return { template: object.template, evaluated: `the pod template of ${object.kind} ${object.name}` };
  const owner = controllerRef(object.ownerReferences);
  const ownerKind = owner === undefined ? undefined : TEMPLATE_OWNERS[owner.kind];
  if (owner === undefined || ownerKind === undefined) return { template: object.template, evaluated: 'the pod as stored (nothing recreates it from a template)' };
  try {
    const made = await reads.object(ownerKind, object.namespace, owner.name);
    return { template: made.template, evaluated: `the pod template of ${owner.kind} ${owner.name}, which its next pod is made from` };
  } catch (error) {
    if (!isCodedError(error)) throw error;
    notes.push(`could not read ${owner.kind} ${owner.name} (${error.message}): the pod as stored is explained instead`);
    return { template: object.template, evaluated: 'the pod as stored' };
  }
}

function nowOf(pod: PodTemplate): NonNullable<LiveExplanation['now']> {
  const annotations = pod.metadata?.annotations ?? {};
  if (!isInjected(annotations, pod.spec)) return { injected: false };
  const status = readStatus(annotations);
  return { injected: true, agent: status.agent, ...(status.sidecarMode ? { sidecarMode: status.sidecarMode } : {}), ...(status.image ? { image: status.image } : {}) };
}

/** A running pod that differs from what a new one would get: say so, and how to replace it. */
async function notePodNow(reads: ExplainReads, pod: ReadObject, namespace: string, today: ReturnType<typeof readStatus> | undefined, notes: string[]): Promise<void> {
  if (today === undefined) return;
  const now = nowOf(pod.template);
  let differs: string | undefined;
  if (!now.injected) differs = 'this pod runs without the sidecar (created before its namespace or template asked for it, or while the webhook was unreachable); a new pod gets it';
  else if (now.agent !== today.agent) differs = `this pod runs the ${now.agent} sidecar; a new pod gets ${today.agent}`;
  else if (now.image !== undefined && today.image !== undefined && now.image !== today.image) differs = `this pod runs the sidecar image ${now.image}; a new pod gets ${today.image}`;
  if (differs === undefined) return;
  const owner = await topOwner(namespace, { name: pod.name, uid: pod.uid, ownerReferences: pod.ownerReferences }, reads);
  notes.push(`${differs}: ${owner === undefined ? 'create it again' : restartHint(owner, namespace)}`);
}

function notSent(entries: readonly EntryCheck[], namespace: string, labels: Readonly<Record<string, string>>, installNamespace: string): Pick<LiveExplanation, 'decision' | 'reason' | 'why' | 'change'> & { sentTo: string } {
  if (entries.length === 0) {
    return {
      decision: 'not_sent',
      reason: 'not_installed',
      sentTo: 'none',
      why: "no MutatingWebhookConfiguration holds sre-quero's entries (annotated, enabled, enforced.injector.sre-quero.io): the API server calls no sre-quero webhook",
      change: 'install sre-quero (deploy/README.md), or check that your user may list mutatingwebhookconfigurations',
    };
  }
  const selecting = entries.find((entry) => entry.namespaceMatches);
  if (selecting !== undefined) {
    return {
      decision: 'not_sent',
      reason: 'not_selected',
      sentTo: 'none',
      why: `${selecting.entry} selects the namespace, but ${selecting.why}`,
      change: "give the pod template labels the entry's objectSelector selects, or ask the platform team that installed sre-quero",
    };
  }
  const label = labels[NAMESPACE_LABEL];
  const never = neverInjected(namespace, installNamespace);
  return {
    decision: 'not_sent',
    reason: 'namespace_excluded',
    sentTo: 'none',
    why: never
      ? `sre-quero is never called for ${namespace === 'kube-system' ? 'kube-system' : 'its own namespace'}`
      : `no sre-quero entry selects namespace ${namespace}${label === undefined ? '' : ` (labelled ${NAMESPACE_LABEL}=${label})`}`,
    change: never
      ? 'nothing: run the workload in another namespace to have it injected'
      : label === 'disabled'
        ? `remove the label (kubectl label namespace ${namespace} ${NAMESPACE_LABEL}-), then annotate the pod template or label the namespace enabled`
        : "the entries' namespaceSelectors leave it out (see each entry above): ask the platform team that installed sre-quero",
  };
}

/** The command's text. */
export function formatLive(e: LiveExplanation): string {
  const lines = [e.subject];
  if (e.now !== undefined) {
    lines.push(
      e.now.injected
        ? `  now: injected (agent ${e.now.agent}${e.now.sidecarMode ? `, sidecar mode ${e.now.sidecarMode}` : ''}${e.now.image ? `, image ${e.now.image}` : ''})`
        : '  now: not injected (no sidecar and status annotation)',
    );
  }
  lines.push(`  namespace ${e.namespace.name}: ${e.namespace.label === undefined ? `no ${NAMESPACE_LABEL} label` : `${NAMESPACE_LABEL}=${e.namespace.label}`}`);
  lines.push(`  webhook called: ${e.sentTo ?? 'none'}`);
  for (const entry of e.entries) lines.push(`    ${entry.entry} (${entry.configuration}): ${entry.sent ? 'called' : 'not called'}: ${entry.why}`);
  lines.push(`  settings: ${e.settingsFrom}`);
  lines.push(`  explained: ${e.evaluated}`);
  lines.push(`  decision: ${e.decision} (${e.reason})`, `    why: ${e.why}`, `    change: ${e.change}`);
  if (e.agent !== undefined) lines.push(`    agent: ${e.agent}`);
  for (const warning of e.warnings) lines.push(`    warning: ${warning}`);
  for (const note of e.notes) lines.push(`  note: ${note}`);
  return `${lines.join('\n')}\n`;
}

