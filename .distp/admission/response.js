/**
 * The allowed answer as JSON text, written once: the same bytes as
 * `JSON.stringify` of the AdmissionResponseBody (same keys, same order),
 * without building the object or re-escaping the patch. `patchJson` is the
 * JSON patch's text; an empty patch ("[]" or none) is left out.
 */
export function allowText(apiVersion, uid, patchJson, warnings = []) {
    let response = `{"uid":${JSON.stringify(uid)},"allowed":true`;
    if (patchJson !== undefined && patchJson !== '[]') {
        // Base64's alphabet needs no JSON escaping.
        response += `,"patchType":"JSONPatch","patch":"${Buffer.from(patchJson).toString('base64')}"`;
    }
    if (warnings.length > 0)
        response += `,"warnings":${JSON.stringify(warnings)}`;
    return `{"apiVersion":${JSON.stringify(apiVersion)},"kind":"AdmissionReview","response":${response}}}`;
}
export function denyText(apiVersion, uid, code, reason, message) {
    return JSON.stringify({ apiVersion, kind: 'AdmissionReview', response: { uid, allowed: false, status: { code, reason, message } } });
}
//# sourceMappingURL=response.js.map