// Who a person restarts to replace a pod: the workload at the top of its
// ownerReferences (Deployment via ReplicaSet, CronJob via Job, StatefulSet,
// DaemonSet), or the pod itself. Resolving a ReplicaSet or a Job takes one
// read each (their own ownerReferences); the reads come in through OwnerReads,
// so the webhook, the reconciler and the CLI share this and tests pass fakes.

/** An object to name in an Event or a command. */
export interface ObjectRef {
  apiVersion: string;
  kind: string;
  name: string;
  uid?: string | undefined;
}

/** What a pod's (or a workload's) metadata says about its owners. */
export interface OwnerReference {
  apiVersion?: string | undefined;
  kind?: string | undefined;
  name?: string | undefined;
  uid?: string | undefined;
  controller?: boolean | undefined;
}

/** The kinds whose own owner decides what to restart. */
export type OwnedKind = 'ReplicaSet' | 'Job';

export interface OwnerReads {
  /** The controller of that ReplicaSet or Job (its Deployment or CronJob); undefined when it has none. Rejects when it cannot be read. */
  controllerOf(kind: OwnedKind, namespace: string, name: string): Promise<ObjectRef | undefined>;
}

const wellFormed = (ref: unknown): ref is OwnerReference & { kind: string; name: string } =>
  typeof ref === 'object' && ref !== null && typeof (ref as OwnerReference).kind === 'string' && typeof (ref as OwnerReference).name === 'string' && (ref as OwnerReference).name !== '';

/**
 * The controller among the references (the one that recreates the pod), else
 * the first. Reads untrusted input too (a pod in an AdmissionReview): what is
 * not a well-formed reference is passed over.
 */
export function controllerRef(references: unknown): ObjectRef | undefined {
  const valid = Array.isArray(references) ? references.filter(wellFormed) : [];
  const chosen = valid.find((ref) => ref.controller === true) ?? valid[0];
  if (chosen === undefined) return undefined;
  const { apiVersion, uid } = chosen;
  return { apiVersion: typeof apiVersion === 'string' ? apiVersion : '', kind: chosen.kind, name: chosen.name, ...(typeof uid === 'string' && uid ? { uid } : {}) };
}

const OWNED: Readonly<Record<string, { group: string; parent: string }>> = {
  ReplicaSet: { group: 'apps/', parent: 'Deployment' },
  Job: { group: 'batch/', parent: 'CronJob' },
};

/** A pod's metadata, as much as owner resolution reads. */
export interface PodIdentity {
  name?: string | undefined;
  uid?: string | undefined;
  /** Checked here: it may come from an AdmissionReview. */
  ownerReferences?: unknown;
}

/**
 * The object to restart (or to tell about) for this pod: its controller, or
 * that controller's own when it is a ReplicaSet of a Deployment or a Job of a
 * CronJob; the pod itself when nothing owns it. A read that fails (forbidden,
 * gone, unreachable) leaves the nearer owner: an answer that is less helpful,
 * never a wrong one.
 */
export async function topOwner(namespace: string, pod: PodIdentity, reads: OwnerReads): Promise<ObjectRef | undefined> {
  const owner = controllerRef(pod.ownerReferences);
  if (owner === undefined) return pod.name ? { apiVersion: 'v1', kind: 'Pod', name: pod.name, ...(pod.uid ? { uid: pod.uid } : {}) } : undefined;
  const owned = OWNED[owner.kind];
  if (owned === undefined || !owner.apiVersion.startsWith(owned.group)) return owner;
  try {
    const parent = await reads.controllerOf(owner.kind as OwnedKind, namespace, owner.name);
    return parent?.kind === owned.parent ? parent : owner;
  } catch {
    return owner;
  }
}

/** How the owner makes new pods (which the webhook then sees): the command, or what to do. */
export function restartHint(owner: ObjectRef, namespace: string): string {
  switch (owner.kind) {
    case 'Deployment':
    case 'StatefulSet':
    case 'DaemonSet':
      return `kubectl rollout restart ${owner.kind.toLowerCase()}/${owner.name} -n ${namespace}`;
    case 'CronJob':
      return `nothing to restart: the next Job of cronjob/${owner.name} (-n ${namespace}) gets new pods`;
    case 'Job':
      return `a Job's pods are not replaced while they run: delete and create job/${owner.name} again (-n ${namespace}), or wait for it to finish`;
    case 'ReplicaSet':
      return `delete its pods (kubectl delete pod <name> -n ${namespace}): replicaset/${owner.name} creates new ones`;
    case 'Pod':
      return `kubectl delete pod/${owner.name} -n ${namespace}, then create it again (nothing recreates a bare pod)`;
    default:
      return `restart it the way ${owner.kind} ${owner.name} replaces its pods (-n ${namespace})`;
  }
}
