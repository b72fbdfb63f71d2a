// The one catalogue of the errors sre-quero reports, in the style of
// @fastify/error: `createError(code, message, statusCode?)` returns a
// constructor per code. Every code is declared here, once; the webhook answers
// with the statusCode (and {error: code, message}), the CLI prints
// "code: message" or its usage text (src/cli.ts).

/** An error from the catalogue: a stable code, and the HTTP status when the webhook answers with one. */
export interface CodedError<C extends string = string, S extends number | undefined = number | undefined> extends Error {
  readonly code: C;
  readonly statusCode: S;
}

/** What `createError` returns: `new`-able with the message's arguments; `instanceof` is per code. */
export interface CodedErrorConstructor<C extends string, S extends number | undefined, A extends unknown[]> {
  new (...args: A): CodedError<C, S>;
  readonly code: C;
  readonly statusCode: S;
  readonly prototype: CodedError<C, S>;
}

/** The common base, so that `isCodedError` needs no duck typing. */
abstract class CatalogueError extends Error {
  abstract readonly code: string;
  abstract readonly statusCode: number | undefined;
}

const CODE = /^SQ_[A-Z_]+$/;
const declared = new Set<string>();

/** SQ_TLS_INVALID → TlsInvalidError: the constructor's and the instances' name. */
const nameOf = (code: string): string =>
  `${code
    .slice('SQ_'.length)
    .split('_')
    .map((word) => word.charAt(0) + word.slice(1).toLowerCase())
    .join('')}Error`;

/**
 * Declares an error code. `message` is the text itself, or a function of the
 * constructor's arguments (typed, unlike @fastify/error's printf `%s`).
 * Throws at start-up for a malformed or twice-declared code.
 */
export function createError<C extends string, A extends unknown[] = [], S extends number | undefined = undefined>(
  code: C,
  message: string | ((...args: A) => string),
  statusCode?: S,
): CodedErrorConstructor<C, S, A> {
  if (!CODE.test(code)) throw new TypeError(`error code ${JSON.stringify(code)} must match ${CODE}`);
  if (declared.has(code)) throw new TypeError(`error code ${code} is declared twice`);
  declared.add(code);
  const format = typeof message === 'string' ? () => message : message;
  const name = nameOf(code);
  class Coded extends CatalogueError {
    static readonly code = code;
    static readonly statusCode = statusCode as S;
    readonly code = code;
    readonly statusCode = statusCode as S;
    constructor(...args: A) {
      super(format(...args));
    }
  }
  Object.defineProperty(Coded, 'name', { value: name });
  Object.defineProperty(Coded.prototype, 'name', { value: name, writable: true, configurable: true });
  return Coded;
}

/** True for any error from this catalogue. */
export const isCodedError = (error: unknown): error is CodedError => error instanceof CatalogueError;

// The catalogue. A constructor is named after its code (the unit test checks).

/** The command line is wrong: unknown command, missing or bad flag. The CLI prints the usage text and exits 2. */
export const UsageError = createError('SQ_USAGE', (problem: string) => problem);

/** `serve`/`reconcile` flags or environment are invalid, or reconcile has no cluster. The CLI exits 2. */
export const ConfigInvalidError = createError('SQ_CONFIG_INVALID', (problem: string) => problem);

/** The settings file cannot be read or parsed as one YAML/JSON document. The CLI exits 2. */
export const SettingsUnreadableError = createError('SQ_SETTINGS_UNREADABLE', (path: string, reason: string) => `settings file ${path}: ${reason}`);

/** The settings file parses but a value is invalid. The CLI exits 2. */
export const SettingsInvalidError = createError('SQ_SETTINGS_INVALID', (path: string, problem: string) => `settings file ${path}: ${problem}`);

/** The serving certificate or key cannot be read, or they are not a usable pair (at start-up). The CLI exits 2. */
export const TlsInvalidError = createError('SQ_TLS_INVALID', (problem: string) => problem);

/** `inject`: the input cannot be read, is not YAML, or holds a malformed object or pod template. Exit 2. */
export const ManifestUnreadableError = createError('SQ_MANIFEST_UNREADABLE', (where: string, problem: string) => `${where}: ${problem}`);

/** `inject`: the injector refuses a pod template (as the webhook would refuse the pod). Exit 1. */
export const ManifestRefusedError = createError('SQ_MANIFEST_REFUSED', (where: string, refusal: string) => `${where}: ${refusal}`);

/** The request body is not a well-formed AdmissionReview (the client's mistake). */
export const InvalidReviewError = createError('SQ_INVALID_REVIEW', (problem: string) => problem, 400);

/** A 4xx error without a code of its own reached the error handler (its code in the answer); not thrown. */
export const BadRequestError = createError('SQ_BAD_REQUEST', (problem: string) => problem, 400);

/** No route for the method and URL (the not-found handler's answer); not thrown. */
export const NotFoundError = createError('SQ_NOT_FOUND', (method: string, url: string) => `no route for ${method} ${url}`, 404);

/** Anything unexpected while answering: the client sees this, the log has the error itself; not thrown. */
export const InternalError = createError('SQ_INTERNAL', 'internal error; see the webhook log', 500);

/** The reconciler's informer caches did not complete their first list in time; the replica gives its lease back. */
export const CacheSyncTimeoutError = createError('SQ_CACHE_SYNC_TIMEOUT', (missing: number, total: number, timeoutMs: number) => `${missing} of ${total} informer caches did not sync within ${timeoutMs} ms`);

/** The kubeconfig to use is missing, unreadable, malformed, names no usable cluster, or is a list of files; serve and reconcile exit 2. */
export const KubeconfigInvalidError = createError('SQ_KUBECONFIG_INVALID', (which: string, problem: string) => `kubeconfig ${which}: ${problem}`);

/** `explain` (live): the pod, workload or namespace it was asked about does not exist; exit 2. */
export const ObjectNotFoundError = createError('SQ_OBJECT_NOT_FOUND', (what: string, detail: string) => `${what} not found (${detail})`);

/** `explain` (live): the kubeconfig's user may not read what the answer needs; exit 2. Names the check to run. */
export const ReadForbiddenError = createError(
  'SQ_READ_FORBIDDEN',
  (what: string, check: string, detail: string) => `not allowed to read ${what} (${detail}); check with: ${check}`,
);

/** `explain` (live): a read failed otherwise (the API server unreachable, credentials refused, a 5xx); exit 2. */
export const ClusterReadFailedError = createError('SQ_CLUSTER_READ_FAILED', (what: string, problem: string) => `cannot read ${what}: ${problem}`);

/** `certs` was asked for a certificate that would outlive the CA signing it (it would stop verifying early); exit 2. */
export const CertOutlivesCaError = createError(
  'SQ_CERT_OUTLIVES_CA',
  (days: number, caNotAfter: string, caDaysLeft: number) =>
    `a certificate valid for ${days} days would outlive its CA (valid until ${caNotAfter}, ${caDaysLeft} days from now): give --days ${Math.max(1, caDaysLeft)} or less, or make a new CA (and a new caBundle)`,
);

/** `uninstall`: a call to the API server failed or was refused; what was done before it stays done, and a second run resumes. Exit 1. */
export const UninstallFailedError = createError(
  'SQ_UNINSTALL_FAILED',
  (step: string, problem: string) => `${step}: ${problem}; nothing after this step was done: run uninstall again once this is fixed (it resumes)`,
);
