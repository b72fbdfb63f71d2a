import { isMap, isSeq } from 'yaml';
import { ManifestUnreadableError } from '../errors.js';
import { explain } from '../injection/explain.js';
import { injectPod, podShapeProblem } from '../injection/index.js';
import { findTemplates, getIn, splitDocuments } from './inject-manifests.js';
export function explainManifests(text, settings, mode = 'annotated') {
    const explained = [];
    splitDocuments(text).forEach(({ doc }, index) => {
        const where = `document ${index + 1}`;
        const problem = doc.errors[0];
        if (problem !== undefined)
            throw new ManifestUnreadableError(where, problem.message);
        if (doc.contents !== null && !isMap(doc.contents) && !isSeq(doc.contents))
            throw new ManifestUnreadableError(where, 'expected a Kubernetes object, got a scalar');
        const object = doc.toJS();
        const sites = [];
        findTemplates(object, [], sites);
        for (const site of sites) {
            const template = getIn(object, site.path);
            const shape = podShapeProblem(template, site.path.length === 0 ? 'pod' : site.path.join('.'));
            if (shape !== undefined)
                throw new ManifestUnreadableError(`${where} (${site.label})`, shape);
            const pod = template;
            const result = injectPod(pod, settings, mode);
            const annotations = pod.metadata?.annotations ?? {};
            explained.push({ where: `${where} (${site.label})`, ...explain(result, { annotations, settings }), warnings: result.kind === 'injected' ? result.warnings : [] });
        }
    });
    return explained;
}
/** The command's text: a paragraph per pod template. */
export function formatExplained(explained, mode) {
    if (explained.length === 0)
        return 'no pod templates found (Pods, Deployments, StatefulSets, DaemonSets, ReplicaSets, Jobs, CronJobs)\n';
    return explained
        .map((each) => `${each.where}: ${each.decision} (${each.reason}) ${mode === 'annotated' ? 'in a namespace without the injection label' : `in a namespace labelled logging.sre-quero/injection=${mode}`} (--mode ${mode})\n` +
        `  why: ${each.why}\n  change: ${each.change}\n${each.agent === undefined ? '' : `  agent: ${each.agent}\n`}${each.warnings.map((warning) => `  warning: ${warning}\n`).join('')}`)
        .join('\n');
}
//# sourceMappingURL=explain-manifests.js.map