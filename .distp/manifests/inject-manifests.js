import { Composer, isMap, isSeq, Parser } from 'yaml';
import { diffToPatch, injectPod, podShapeProblem } from '../injection/index.js';
import { ManifestRefusedError, ManifestUnreadableError } from '../errors.js';
import { isRecord } from '../injection/pod.js';
const WORKLOAD_TEMPLATE = {
    'v1/Pod': [],
    'apps/v1/Deployment': ['spec', 'template'],
    'apps/v1/StatefulSet': ['spec', 'template'],
    'apps/v1/DaemonSet': ['spec', 'template'],
    'apps/v1/ReplicaSet': ['spec', 'template'],
    'batch/v1/Job': ['spec', 'template'],
    'batch/v1/CronJob': ['spec', 'jobTemplate', 'spec', 'template'],
    'batch/v1beta1/CronJob': ['spec', 'jobTemplate', 'spec', 'template'],
};
function describe(object) {
    const name = isRecord(object.metadata) ? (object.metadata.name ?? object.metadata.generateName) : undefined;
    return `${String(object.kind)} ${typeof name === 'string' ? name : '(unnamed)'}`;
}
export function findTemplates(object, at, sites) {
    if (!isRecord(object))
        return;
    const { apiVersion, kind } = object;
    if (typeof kind === 'string' && kind.endsWith('List') && Array.isArray(object.items)) {
        object.items.forEach((item, index) => findTemplates(item, [...at, 'items', index], sites));
        return;
    }
    const templatePath = WORKLOAD_TEMPLATE[`${String(apiVersion)}/${String(kind)}`];
    if (templatePath !== undefined)
        sites.push({ path: [...at, ...templatePath], label: describe(object) });
}
export function getIn(value, path) {
    let current = value;
    for (const step of path)
        current = isRecord(current) || Array.isArray(current) ? current[step] : undefined;
    return current;
}
const decodePointer = (pointer) => pointer === '' ? [] : pointer.slice(1).split('/').map((step) => step.replace(/~1/g, '/').replace(/~0/g, '~'));
/**
 * Applies the same JSON patch the webhook would send to the YAML document, so
 * only the added nodes are new and every comment and style elsewhere stays.
 */
function applyToDocument(doc, at, operations) {
    for (const operation of operations) {
        const path = [...at, ...decodePointer(operation.path).map((step) => (/^(0|[1-9][0-9]*)$/.test(step) ? Number(step) : step))];
        if (operation.op === 'remove')
            doc.deleteIn(path);
        else if (operation.op === 'add' || operation.op === 'replace') {
            const node = doc.createNode(operation.value, { aliasDuplicateObjects: false });
            if (path.length === 0)
                doc.contents = node;
            else
                doc.setIn(path, node);
        }
        else
            throw new Error(`unexpected patch operation ${operation.op}`);
    }
}
/** Each document with the exact source text it came from (comments, markers and all). */
export function splitDocuments(text) {
    const tokens = [...new Parser().parse(text)];
    const starts = tokens.filter((token) => token.type === 'document').map((token) => token.offset);
    const docs = [...new Composer().compose(tokens)];
    return docs.map((doc, index) => ({
        doc,
        source: text.slice(index === 0 ? 0 : starts[index], starts[index + 1] ?? text.length),
    }));
}
export function injectManifests(text, settings, mode = 'annotated') {
    const warnings = [];
    let injected = 0;
    const printed = splitDocuments(text).map(({ doc, source }, index) => {
        const where = `document ${index + 1}`;
        const problem = doc.errors[0];
        if (problem !== undefined)
            throw new ManifestUnreadableError(where, problem.message);
        if (doc.contents !== null && !isMap(doc.contents) && !isSeq(doc.contents)) {
            throw new ManifestUnreadableError(where, 'expected a Kubernetes object, got a scalar');
        }
        const object = doc.toJS();
        const sites = [];
        findTemplates(object, [], sites);
        let changed = false;
        for (const site of sites) {
            const template = getIn(object, site.path);
            const shape = podShapeProblem(template, site.path.length === 0 ? 'pod' : site.path.join('.'));
            if (shape !== undefined)
                throw new ManifestUnreadableError(`${where} (${site.label})`, shape);
            const result = injectPod(template, settings, mode);
            if (result.kind === 'refused')
                throw new ManifestRefusedError(`${where} (${site.label})`, result.message);
            if (result.kind === 'injected') {
                applyToDocument(doc, site.path, diffToPatch(template, result.pod));
                changed = true;
                injected += 1;
                warnings.push(...result.warnings.map((warning) => `${where} (${site.label}): ${warning}`));
            }
        }
        return changed ? doc.toString({ lineWidth: 0, flowCollectionPadding: false }) : source;
    });
    return { output: printed.join(''), warnings, injected };
}
//# sourceMappingURL=inject-manifests.js.map