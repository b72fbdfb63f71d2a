import jsonPatch, { type Operation } from 'fast-json-patch';

/**
 * The JSON patch that turns `original` into `mutated`: a plain diff, so an
 * unchanged pod yields []. For the manifests command, which edits YAML
 * documents operation by operation. (Default import: the named ESM export
 * fails at run time under Node.)
 */
export function diffToPatch(original: object, mutated: object): Operation[] {
  return jsonPatch.compare(original, mutated);
}

/** A JSON patch as the text of its JSON array, and how many operations it holds. */
export interface PatchText {
  json: string;
  operations: number;
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
export function patchText(original: object, mutated: object): PatchText {
  const operations: string[] = [];
  walk(original, mutated, '', operations);
  return { json: `[${operations.join(',')}]`, operations: operations.length };
}

// The JSON of a value as fast-json-patch's _deepClone + JSON.stringify write it:
// `undefined` (an array hole) becomes null.
const valueJson = (value: unknown): string => (value === undefined ? 'null' : (JSON.stringify(value) as string));

// As fast-json-patch's escapePathComponent (RFC 6901).
const escapeKey = (key: string): string => (key.includes('/') || key.includes('~') ? key.replace(/~/g, '~0').replace(/\//g, '~1') : key);

const keysOf = (value: object): string[] => (Array.isArray(value) ? Array.from({ length: value.length }, (_, i) => `${i}`) : Object.keys(value));

const hasOwn = (value: object, key: string): boolean => Object.prototype.hasOwnProperty.call(value, key);

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null;

/** fast-json-patch's `_generate` (non-invertible), writing each operation's JSON instead of pushing a cloned object. */
function walk(mirror: object, current: object, path: string, out: string[]): void {
  if (current === mirror) return;
  let obj = current as Record<string, unknown>;
  if (typeof obj.toJSON === 'function') obj = (obj.toJSON as () => Record<string, unknown>)();
  const old = mirror as Record<string, unknown>;
  const newKeys = keysOf(obj);
  const oldKeys = keysOf(old);
  const objIsArray = Array.isArray(obj);
  const oldIsArray = Array.isArray(old);
  let deleted = false;
  for (let t = oldKeys.length - 1; t >= 0; t--) {
    const key = oldKeys[t] as string;
    const oldVal = old[key];
    const keyPath = `${path}/${escapeKey(key)}`;
    if (hasOwn(obj, key) && !(obj[key] === undefined && oldVal !== undefined && !objIsArray)) {
      const newVal = obj[key];
      if (isObject(oldVal) && isObject(newVal) && Array.isArray(oldVal) === Array.isArray(newVal)) {
        walk(oldVal, newVal, keyPath, out);
      } else if (oldVal !== newVal) {
        out.push(`{"op":"replace","path":${JSON.stringify(keyPath)},"value":${valueJson(newVal)}}`);
      }
    } else if (oldIsArray === objIsArray) {
      out.push(`{"op":"remove","path":${JSON.stringify(keyPath)}}`);
      deleted = true;
    } else {
      out.push(`{"op":"replace","path":${JSON.stringify(path)},"value":${valueJson(obj)}}`);
    }
  }
  if (!deleted && newKeys.length === oldKeys.length) return;
  for (const key of newKeys) {
    if (!hasOwn(old, key) && obj[key] !== undefined) {
      out.push(`{"op":"add","path":${JSON.stringify(`${path}/${escapeKey(key)}`)},"value":${valueJson(obj[key])}}`);
    }
  }
}

export type { Operation };
