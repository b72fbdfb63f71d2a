import jsonPatch from 'fast-json-patch';
/**
 * The JSON patch that turns `original` into `mutated`: a plain diff, so an
 * unchanged pod yields []. For the manifests command, which edits YAML
 * documents operation by operation. (Default import: the named ESM export
 * fails at run time under Node.)
 */
export function diffToPatch(original, mutated) {
    return jsonPatch.compare(original, mutated);
}
/**
 * The admission hot path's patch: the same operations, in the same order and
 * byte for byte the same JSON, as `JSON.stringify(diffToPatch(original,
 * mutated))`, because it is fast-json-patch's `compare` walk step for step.
 * What it leaves out is the cost: `injectPod` shares every unchanged part of
 * the pod with its result, so the walk stops at the first identical
 * reference and only visits what the injection added; and each added value is
 * written as JSON once, where `compare` deep-clones it (a JSON round trip)
 * before the answer stringifies it again.
 */
export function patchText(original, mutated) {
    const operations = [];
    walk(original, mutated, '', operations);
    return `[${operations.join(',')}]`;
}
// JSON texts of frozen values, written once. Only the layout parts the core
// memoizes are frozen (sidecar.ts freezes them deeply), and a frozen value
// cannot change, so its text stays right for as long as the value lives.
const frozenJson = new WeakMap();
// The JSON of a value as fast-json-patch's _deepClone + JSON.stringify write it:
// `undefined` (an array hole) becomes null.
function valueJson(value) {
    if (value === undefined)
        return 'null';
    if (typeof value !== 'object' || value === null || !Object.isFrozen(value))
        return JSON.stringify(value);
    let text = frozenJson.get(value);
    if (text === undefined)
        frozenJson.set(value, (text = JSON.stringify(value)));
    return text;
}
// As fast-json-patch's escapePathComponent (RFC 6901).
const escapeKey = (key) => (key.indexOf('/') === -1 && key.indexOf('~') === -1 ? key : key.replace(/~/g, '~0').replace(/\//g, '~1'));
const hasOwn = (value, key) => Object.prototype.hasOwnProperty.call(value, key);
const isObject = (value) => typeof value === 'object' && value !== null;
const op = (name, path, value) => `{"op":"${name}","path":${JSON.stringify(path)},"value":${valueJson(value)}}`;
/**
 * fast-json-patch's `_generate` (non-invertible), writing each operation's
 * JSON instead of pushing a cloned object. Arrays are walked by index (their
 * keys are "0".."n-1", as `_objectKeys` gives them); a key's path is only
 * built when an operation or a step down needs it.
 */
function walk(mirror, current, path, out) {
    if (current === mirror)
        return;
    let obj = current;
    if (typeof obj.toJSON === 'function')
        obj = obj.toJSON();
    const old = mirror;
    const objIsArray = Array.isArray(obj);
    const oldIsArray = Array.isArray(old);
    const oldKeys = oldIsArray ? undefined : Object.keys(old);
    const oldLength = oldKeys === undefined ? old.length : oldKeys.length;
    let deleted = false;
    for (let t = oldLength - 1; t >= 0; t--) {
        const key = oldKeys === undefined ? `${t}` : oldKeys[t];
        const oldVal = old[key];
        if (hasOwn(obj, key) && !(obj[key] === undefined && oldVal !== undefined && !objIsArray)) {
            const newVal = obj[key];
            if (newVal === oldVal)
                continue;
            if (isObject(oldVal) && isObject(newVal) && Array.isArray(oldVal) === Array.isArray(newVal)) {
                walk(oldVal, newVal, `${path}/${escapeKey(key)}`, out);
            }
            else {
                out.push(op('replace', `${path}/${escapeKey(key)}`, newVal));
            }
        }
        else if (oldIsArray === objIsArray) {
            out.push(`{"op":"remove","path":${JSON.stringify(`${path}/${escapeKey(key)}`)}}`);
            deleted = true;
        }
        else {
            out.push(op('replace', path, obj));
        }
    }
    if (objIsArray) {
        const length = obj.length;
        if (!deleted && length === oldLength)
            return;
        for (let i = 0; i < length; i++) {
            const key = `${i}`;
            if (!hasOwn(old, key) && obj[key] !== undefined)
                out.push(op('add', `${path}/${key}`, obj[key]));
        }
        return;
    }
    const newKeys = Object.keys(obj);
    if (!deleted && newKeys.length === oldLength)
        return;
    for (const key of newKeys) {
        if (!hasOwn(old, key) && obj[key] !== undefined)
            out.push(op('add', `${path}/${escapeKey(key)}`, obj[key]));
    }
}
//# sourceMappingURL=patch.js.map