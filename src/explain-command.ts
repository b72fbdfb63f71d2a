import { parseArgs } from 'node:util';
import { findReadCluster } from './config.js';
import { UsageError } from './errors.js';
import { explainReads, getJsonWith, KIND_ALIASES, WORKLOAD_KINDS, type ExplainReads, type WorkloadKind } from './explain/cluster-reads.js';
import { explainCluster, formatCluster } from './explain/explain-cluster.js';
import { explainLive, formatLive } from './explain/explain-live.js';
import { kubeConfigFor } from './reconciler/kube.js';

// `sre-quero explain pod NAME -n NS` (and deployment, statefulset, daemonset,
// replicaset, job, cronjob) and `sre-quero explain cluster`: the live forms.
// Loaded only for them, so `explain -f` and `inject` run without client-node.
// Exit 0 when it answers (whatever the answer); a coded error (exit 2) when it
// cannot read what the answer needs.

export interface LiveIo {
  stdout(text: string): void;
}

/** The reads for a kubeconfig (tests pass their own `reads`), and the namespace its context names. */
export function readsFor(kubeconfig: string | undefined, env: NodeJS.ProcessEnv): { reads: ExplainReads; contextNamespace: string | undefined } {
  const kc = kubeConfigFor(findReadCluster(kubeconfig, env));
  return { reads: explainReads(getJsonWith(kc)), contextNamespace: kc.getContextObject(kc.getCurrentContext())?.namespace };
}

export async function runLiveExplain(
  argv: readonly string[],
  io: LiveIo,
  env: NodeJS.ProcessEnv,
  connect: typeof readsFor = readsFor,
): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    options: {
      kubeconfig: { type: 'string' },
      namespace: { type: 'string', short: 'n' },
      'namespace-of-install': { type: 'string' },
      settings: { type: 'string' },
    },
    strict: true,
    allowPositionals: true,
  });
  const [what, name, ...extra] = positionals;
  const options = { installNamespace: values['namespace-of-install'], settingsFile: values.settings };
  if (what === 'cluster') {
    if (name !== undefined) throw new UsageError(`explain cluster takes no name (got "${name}"); -n <namespace> limits it to one namespace`);
    const { reads } = connect(values.kubeconfig, env);
    io.stdout(formatCluster(await explainCluster(reads, { ...options, namespace: values.namespace })));
    return 0;
  }
  const kind = what === undefined ? undefined : (KIND_ALIASES[what] ?? (what in WORKLOAD_KINDS ? (what as WorkloadKind) : undefined));
  if (kind === undefined) {
    throw new UsageError(`explain needs -f <file>, cluster, or a kind and a name (${Object.keys(WORKLOAD_KINDS).join(', ')}); got "${what ?? ''}"`);
  }
  if (name === undefined || extra.length > 0) throw new UsageError(`explain ${what} needs exactly one name: explain ${what} NAME -n NAMESPACE`);
  const { reads, contextNamespace } = connect(values.kubeconfig, env);
  const namespace = values.namespace ?? contextNamespace ?? 'default';
  io.stdout(formatLive(await explainLive(reads, kind, namespace, name, options)));
  return 0;
}
