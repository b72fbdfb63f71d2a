import { isMap, isSeq } from 'yaml';
import { ManifestUnreadableError } from '../errors.js';
import { explain, type Explanation } from '../injection/explain.js';
import { injectPod, podShapeProblem, type InjectorSettings, type Mode, type PodTemplate } from '../injection/index.js';
import { findTemplates, getIn, splitDocuments, type TemplateSite } from './inject-manifests.js';

// The offline `explain` command's core: for each pod template in the
// manifests, what the webhook would decide (with these settings, in a
// namespace of this mode), why, and what to change.

export interface ExplainedTemplate extends Explanation {
  /** "document 2 (Deployment web)". */
  where: string;
  warnings: string[];
}

export function explainManifests(text: string, settings: InjectorSettings, mode: Mode = 'annotated'): ExplainedTemplate[] {
  const explained: ExplainedTemplate[] = [];
  splitDocuments(text).forEach(({ doc }, index) => {
    const where = `document ${index + 1}`;
    const problem = doc.errors[0];
    if (problem !== undefined) throw new ManifestUnreadableError(where, problem.message);
    if (doc.contents !== null && !isMap(doc.contents) && !isSeq(doc.contents)) throw new ManifestUnreadableError(where, 'expected a Kubernetes object, got a scalar');
    const object: unknown = doc.toJS();
    const sites: TemplateSite[] = [];
    findTemplates(object, [], sites);
    for (const site of sites) {
      const template = getIn(object, site.path);
      const shape = podShapeProblem(template, site.path.length === 0 ? 'pod' : site.path.join('.'));
      if (shape !== undefined) throw new ManifestUnreadableError(`${where} (${site.label})`, shape);
      const pod = template as PodTemplate;
      const result = injectPod(pod, settings, mode);
      const annotations = pod.metadata?.annotations ?? {};
      explained.push({ where: `${where} (${site.label})`, ...explain(result, { annotations, settings }), warnings: result.kind === 'injected' ? result.warnings : [] });
    }
  });
  return explained;
}

/** The command's text: a paragraph per pod template. */
export function formatExplained(explained: readonly ExplainedTemplate[], mode: Mode): string {
  if (explained.length === 0) return 'no pod templates found (Pods, Deployments, StatefulSets, DaemonSets, ReplicaSets, Jobs, CronJobs)\n';
  return explained
    .map(
      (each) =>
        `${each.where}: ${each.decision} (${each.reason}) ${mode === 'annotated' ? 'in a namespace without the injection label' : `in a namespace labelled logging.sre-quero/injection=${mode}`} (--mode ${mode})\n` +
        `  why: ${each.why}\n  change: ${each.change}\n${each.agent === undefined ? '' : `  agent: ${each.agent}\n`}${each.warnings.map((warning) => `  warning: ${warning}\n`).join('')}`,
    )
    .join('\n');
}
