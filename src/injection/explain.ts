import { ANNOTATIONS, NAMESPACE_LABEL } from './annotations.js';
import type { InjectionResult } from './inject.js';
import { chosenAgent } from './overrides.js';
import type { InjectReason, SkipReason } from './reasons.js';
import type { InjectorSettings } from './settings.js';
import { readStatus } from './status.js';

// "Why was my pod (not) injected?": the decision's reason code in words, and
// what to change for the other outcome. Pure; the explain command prints it.

export interface Explanation {
  decision: 'injected' | 'skipped' | 'refused';
  reason: string;
  why: string;
  change: string;
  /** Injected: the agent the sidecar runs, and who chose it. */
  agent?: string;
}

const OPT_IN = `${ANNOTATIONS.sidecar}: "true"`;
const OPT_OUT = `${ANNOTATIONS.sidecar}: "false"`;

const INJECTED: Readonly<Record<InjectReason, Pick<Explanation, 'why' | 'change'>>> = {
  annotation_opt_in: { why: `the pod template asks for it (${OPT_IN})`, change: `to go without: remove the annotation or set ${OPT_OUT}` },
  namespace_enabled: { why: `its namespace is labelled ${NAMESPACE_LABEL}=enabled: every pod gets the sidecar unless it opts out`, change: `to go without: set ${OPT_OUT} on the pod template` },
  namespace_enforced: {
    why: `its namespace is labelled ${NAMESPACE_LABEL}=enforced: every pod gets the sidecar, and an opt-out is ignored`,
    change: `nothing on the pod can turn it off; the platform team owns the namespace label`,
  },
};

const SKIPPED: Readonly<Record<SkipReason, Pick<Explanation, 'why' | 'change'>>> = {
  not_requested: {
    why: 'the pod template does not ask for the sidecar, and its namespace only injects pods that do',
    change: `set ${OPT_IN} on the pod template, or label the namespace ${NAMESPACE_LABEL}=enabled`,
  },
  opted_out: { why: `the pod template opts out (${OPT_OUT})`, change: `remove the annotation, or set ${OPT_IN}` },
  already_injected: { why: `the pod already has the sidecar and its ${ANNOTATIONS.status} annotation`, change: 'nothing: injection is idempotent' },
  windows_pod: { why: 'a Windows pod: the sidecar images (promtail, alloy) are Linux only', change: 'nothing on the pod; ship its logs with a node-level agent' },
};

/**
 * `template`, when given (the offline command has it), lets an
 * already-injected template that now asks for another agent say how to
 * switch: injection never rewrites a sidecar that is there.
 */
export function explain(result: InjectionResult, template?: { annotations: Readonly<Record<string, string>>; settings: InjectorSettings }): Explanation {
  switch (result.kind) {
    case 'injected': {
      const { agent, agentFrom } = result.sidecar;
      const chosen = agentFrom === 'annotation' ? `by the pod template's ${ANNOTATIONS.agent} annotation` : 'by the settings (agent)';
      return { decision: 'injected', reason: result.reason, ...INJECTED[result.reason], agent: `${agent}, chosen ${chosen}` };
    }
    case 'skipped':
      if (result.reason === 'already_injected' && template !== undefined) {
        const running = readStatus(template.annotations).agent;
        const wanted = chosenAgent(template.annotations, template.settings);
        if (wanted !== undefined && wanted !== running) {
          return {
            decision: 'skipped',
            reason: result.reason,
            why: `it already carries the ${running} sidecar and its ${ANNOTATIONS.status} annotation, but asks for ${wanted}`,
            change:
              `injection never replaces a sidecar that is there: a pod gets ${wanted} when it is created again (kubectl rollout restart on its workload); ` +
              `a template injected offline (sre-quero inject) must be injected again from the manifest as written before, without the ${running} container, its volumes and the status annotation`,
          };
        }
      }
      return { decision: 'skipped', reason: result.reason, ...SKIPPED[result.reason] };
    case 'refused':
      // A refusal's message names the conflict and how to resolve it.
      return { decision: 'refused', reason: result.reason, why: result.message, change: 'as the message says, then create the pod again' };
  }
}
