import jsonPatch, { type Operation } from 'fast-json-patch';

/**
 * The JSON patch that turns `original` into `mutated`: a plain diff, so an
 * unchanged pod yields []. (Default import: the named ESM export fails at
 * run time under Node.)
 */
export function diffToPatch(original: object, mutated: object): Operation[] {
  return jsonPatch.compare(original, mutated);
}

export type { Operation };
