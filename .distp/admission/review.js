import { InvalidReviewError } from '../errors.js';
import { isRecord, podShapeProblem } from '../injection/pod.js';
export const ADMISSION_VERSIONS = ['admission.k8s.io/v1', 'admission.k8s.io/v1beta1'];
const optionalString = (value) => (typeof value === 'string' ? value : undefined);
function readKind(value) {
    if (!isRecord(value))
        return undefined;
    const { group, version, kind } = value;
    if (typeof group !== 'string' || typeof version !== 'string' || typeof kind !== 'string')
        return undefined;
    return { group, version, kind };
}
export const isPodCreate = (request) => request.operation === 'CREATE' && request.kind?.group === '' && request.kind.kind === 'Pod';
/**
 * Validates a parsed body as an AdmissionReview, without copying it. Throws
 * InvalidReviewError naming the first thing that is wrong.
 */
export function readReview(body) {
    if (!isRecord(body))
        throw new InvalidReviewError('body must be a JSON object (an AdmissionReview)');
    const { apiVersion, kind, request } = body;
    if (kind !== 'AdmissionReview')
        throw new InvalidReviewError(`kind must be "AdmissionReview", got ${JSON.stringify(kind) ?? 'nothing'}`);
    if (!ADMISSION_VERSIONS.includes(apiVersion)) {
        throw new InvalidReviewError(`apiVersion must be one of ${ADMISSION_VERSIONS.join(', ')}, got ${JSON.stringify(apiVersion) ?? 'nothing'}`);
    }
    if (!isRecord(request))
        throw new InvalidReviewError('request must be an object');
    if (typeof request.uid !== 'string' || request.uid === '')
        throw new InvalidReviewError('request.uid must be a non-empty string');
    const checked = {
        uid: request.uid,
        kind: readKind(request.kind),
        operation: optionalString(request.operation),
        namespace: optionalString(request.namespace),
        name: optionalString(request.name),
        pod: undefined,
    };
    if (isPodCreate(checked)) {
        if (request.object === undefined || request.object === null)
            throw new InvalidReviewError('request.object is missing');
        const problem = podShapeProblem(request.object, 'request.object');
        if (problem !== undefined)
            throw new InvalidReviewError(`request.object is not a valid Pod: ${problem}`);
        checked.pod = request.object;
    }
    return { apiVersion: apiVersion, request: checked };
}
//# sourceMappingURL=review.js.map