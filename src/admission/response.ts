import type { AdmissionVersion } from './review.js';

/** What an answer says, for the JSON text that carries it (see allowText, denyText). */
export interface AdmissionResponseBody {
  apiVersion: AdmissionVersion;
  kind: 'AdmissionReview';
  response: {
    uid: string;
    allowed: boolean;
    patchType?: 'JSONPatch';
    patch?: string;
    warnings?: string[];
    status?: { code: number; reason: string; message: string };
  };
}

// An answer's text is written in two parts: the head, which only the review
// says (apiVersion and uid), and the tail, which only the verdict says (allowed,
// the patch, warnings or the refusal). Together, the same bytes as
// `JSON.stringify` of the AdmissionResponseBody (same keys, same order). The
// tail of a pod's answer does not depend on the review it came in, so it can
// be kept and sent again (answer-memo.ts).

/** The answer's text up to and including the uid: `{"apiVersion":…,"kind":"AdmissionReview","response":{"uid":…`. */
export function answerHead(apiVersion: AdmissionVersion, uid: string): string {
  return `{"apiVersion":${JSON.stringify(apiVersion)},"kind":"AdmissionReview","response":{"uid":${JSON.stringify(uid)}`;
}

/**
 * The rest of an allowed answer, written without building the object or
 * re-escaping the patch. `patchJson` is the JSON patch's text; an empty patch
 * ("[]" or none) is left out.
 */
export function allowTail(patchJson?: string, warnings: readonly string[] = []): string {
  let tail = ',"allowed":true';
  if (patchJson !== undefined && patchJson !== '[]') {
    // Base64's alphabet needs no JSON escaping.
    tail += `,"patchType":"JSONPatch","patch":"${Buffer.from(patchJson).toString('base64')}"`;
  }
  if (warnings.length > 0) tail += `,"warnings":${JSON.stringify(warnings)}`;
  return `${tail}}}`;
}

/** The rest of a refusal. */
export function denyTail(code: number, reason: string, message: string): string {
  return `,"allowed":false,"status":${JSON.stringify({ code, reason, message } satisfies AdmissionResponseBody['response']['status'])}}}`;
}

/** The allowed answer as JSON text (see allowTail). */
export function allowText(apiVersion: AdmissionVersion, uid: string, patchJson?: string, warnings: readonly string[] = []): string {
  return answerHead(apiVersion, uid) + allowTail(patchJson, warnings);
}

export function denyText(apiVersion: AdmissionVersion, uid: string, code: number, reason: string, message: string): string {
  return answerHead(apiVersion, uid) + denyTail(code, reason, message);
}
