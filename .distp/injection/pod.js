// The slice of the Kubernetes Pod schema the injector reads or writes. Every
// other field is carried through untouched, hence the index signatures.
const isRecord = (value) => typeof value === 'object' && value !== null && !Array.isArray(value);
const isStringMap = (value) => isRecord(value) && Object.values(value).every((v) => typeof v === 'string');
function checkNamedList(value, where, required) {
    if (value === undefined && !required)
        return undefined;
    if (!Array.isArray(value) || (required && value.length === 0)) {
        return `${where} must be a ${required ? 'non-empty ' : ''}list`;
    }
    for (const [i, item] of value.entries()) {
        if (!isRecord(item) || typeof item.name !== 'string' || item.name === '') {
            return `${where}[${i}] must be an object with a non-empty name`;
        }
    }
    return undefined;
}
function checkContainers(value, where, required) {
    const listProblem = checkNamedList(value, where, required);
    if (listProblem !== undefined || value === undefined)
        return listProblem;
    for (const [i, container] of value.entries()) {
        for (const field of ['ports', 'volumeMounts']) {
            const list = container[field];
            if (list === undefined)
                continue;
            if (!Array.isArray(list) || !list.every(isRecord))
                return `${where}[${i}].${field} must be a list of objects`;
        }
    }
    return undefined;
}
/**
 * Checks, without copying, that a value has the shape the injector relies on.
 * Returns a message naming the first offending field (relative to `where`), or
 * undefined when the value can be treated as a PodTemplate.
 */
export function podShapeProblem(value, where) {
    if (!isRecord(value))
        return `${where} must be an object`;
    const { metadata, spec } = value;
    if (metadata !== undefined) {
        if (!isRecord(metadata))
            return `${where}.metadata must be an object`;
        if (metadata.labels !== undefined && !isStringMap(metadata.labels)) {
            return `${where}.metadata.labels must map strings to strings`;
        }
        if (metadata.annotations !== undefined && !isStringMap(metadata.annotations)) {
            return `${where}.metadata.annotations must map strings to strings`;
        }
    }
    if (!isRecord(spec))
        return `${where}.spec must be an object`;
    return (checkContainers(spec.containers, `${where}.spec.containers`, true) ??
        checkContainers(spec.initContainers, `${where}.spec.initContainers`, false) ??
        checkNamedList(spec.volumes, `${where}.spec.volumes`, false));
}
export { isRecord };
//# sourceMappingURL=pod.js.map