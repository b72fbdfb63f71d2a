import type { Operation } from '../injection/index.js';
import type { AdmissionVersion } from './review.js';

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

export function allow(apiVersion: AdmissionVersion, uid: string, patch: readonly Operation[] = [], warnings: readonly string[] = []): AdmissionResponseBody {
  const response: AdmissionResponseBody['response'] = { uid, allowed: true };
  if (patch.length > 0) {
    response.patchType = 'JSONPatch';
    response.patch = Buffer.from(JSON.stringify(patch)).toString('base64');
  }
  if (warnings.length > 0) response.warnings = [...warnings];
  return { apiVersion, kind: 'AdmissionReview', response };
}

export function deny(apiVersion: AdmissionVersion, uid: string, code: number, reason: string, message: string): AdmissionResponseBody {
  return { apiVersion, kind: 'AdmissionReview', response: { uid, allowed: false, status: { code, reason, message } } };
}
