import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import * as errors from '../../src/errors.js';
import { createError, isCodedError, type CodedErrorConstructor } from '../../src/errors.js';

type AnyConstructor = CodedErrorConstructor<string, number | undefined, string[]>;

/** The catalogue: every export of src/errors.ts that createError made. */
const catalogue = Object.entries(errors as Record<string, unknown>).flatMap(([exported, value]): [string, AnyConstructor][] =>
  typeof value === 'function' && typeof (value as { code?: unknown }).code === 'string' ? [[exported, value as AnyConstructor]] : [],
);

/** The HTTP status of each code; undefined: errors of the CLI and the reconciler, which never reach the webhook's answers. */
const STATUS: Record<string, number | undefined> = {
  SQ_USAGE: undefined,
  SQ_CONFIG_INVALID: undefined,
  SQ_SETTINGS_UNREADABLE: undefined,
  SQ_SETTINGS_INVALID: undefined,
  SQ_TLS_INVALID: undefined,
  SQ_MANIFEST_UNREADABLE: undefined,
  SQ_MANIFEST_REFUSED: undefined,
  SQ_INVALID_REVIEW: 400,
  SQ_BAD_REQUEST: 400,
  SQ_NOT_FOUND: 404,
  SQ_INTERNAL: 500,
  SQ_CACHE_SYNC_TIMEOUT: undefined,
  SQ_KUBECONFIG_INVALID: undefined,
  SQ_CERT_OUTLIVES_CA: undefined,
  SQ_UNINSTALL_FAILED: undefined,
  SQ_OBJECT_NOT_FOUND: undefined,
  SQ_READ_FORBIDDEN: undefined,
  SQ_CLUSTER_READ_FAILED: undefined,
};

t.test('every code is declared once, well formed, under its own name, with a message', async (t) => {
  const codes = catalogue.map(([, error]) => error.code);
  t.same([...codes].sort(), Object.keys(STATUS).sort(), 'the catalogue holds exactly the known codes');
  t.equal(new Set(codes).size, codes.length, 'no code twice');
  for (const [exported, error] of catalogue) {
    t.match(error.code, /^SQ_[A-Z_]+$/, `${exported}: code ${error.code}`);
    t.equal(error.name, exported, `${exported}: the constructor's name is its export's`);
    const message = new error('first', 'second').message;
    t.ok(message.length > 0, `${exported}: has a message`, { message });
  }
});

t.test('constructors make instanceof-distinct errors with their code and status', async (t) => {
  for (const [exported, error] of catalogue) {
    const instance = new error('x', 'y');
    t.ok(instance instanceof Error, `${exported}: an Error`);
    t.ok(instance instanceof error, `${exported}: instanceof its own constructor`);
    t.ok(isCodedError(instance), `${exported}: isCodedError`);
    t.equal(instance.code, error.code, `${exported}: code`);
    t.equal(instance.statusCode, STATUS[error.code], `${exported}: statusCode`);
    t.equal(error.statusCode, STATUS[error.code], `${exported}: the constructor's statusCode`);
    t.equal(instance.name, exported, `${exported}: name`);
    t.match(instance.stack, new RegExp(`^${exported}: `), `${exported}: the stack names it`);
    for (const [other, otherError] of catalogue) {
      if (other !== exported) t.notOk(instance instanceof otherError, `${exported} is not a ${other}`);
    }
  }
});

t.test('messages are formatted from the arguments', async (t) => {
  t.equal(new errors.SettingsUnreadableError('/s.yaml', 'ENOENT').message, 'settings file /s.yaml: ENOENT');
  t.equal(new errors.SettingsInvalidError('/s.yaml', 'image: expected x').message, 'settings file /s.yaml: image: expected x');
  t.equal(new errors.ManifestUnreadableError('cannot read a.yaml', 'EACCES').message, 'cannot read a.yaml: EACCES');
  t.equal(new errors.ManifestRefusedError('document 1 (Pod p)', 'no').message, 'document 1 (Pod p): no');
  t.equal(new errors.NotFoundError('GET', '/nope').message, 'no route for GET /nope');
  t.equal(new errors.InternalError().message, 'internal error; see the webhook log');
  t.equal(new errors.ConfigInvalidError('listen port must be from 0').message, 'listen port must be from 0');
});

t.test('createError refuses malformed and repeated codes', async (t) => {
  t.throws(() => createError('sq_lower', 'x'), /must match/);
  t.throws(() => createError('SQ_', 'x'), /must match/);
  t.throws(() => createError('FST_ERR_X', 'x'), /must match/);
  t.throws(() => createError('SQ_CONFIG_INVALID', 'again'), /SQ_CONFIG_INVALID is declared twice/);
  const Made = createError('SQ_TEST_ONLY', (a: string, b: number) => `${a}/${b}`, 418);
  const made = new Made('a', 1);
  t.equal(made.message, 'a/1');
  t.equal(made.statusCode, 418);
  t.equal(made.name, 'TestOnlyError');
});

t.test('isCodedError: only errors from the catalogue', async (t) => {
  t.notOk(isCodedError(new Error('x')));
  t.notOk(isCodedError(Object.assign(new Error('x'), { code: 'SQ_CONFIG_INVALID' })), 'a code alone does not make one');
  t.notOk(isCodedError({ code: 'SQ_CONFIG_INVALID', message: 'x' }));
  t.notOk(isCodedError(undefined));
  t.notOk(isCodedError('SQ_CONFIG_INVALID'));
});

// The catalogue replaced the error classes. These are kept, on purpose:
const KEPT_ERROR_CLASSES: Record<string, string> = {
  'src/errors.ts: CatalogueError': 'the base of every catalogue constructor, so that isCodedError is an instanceof check',
  'src/injection/overrides.ts: InvalidAnnotation':
    'internal control flow: carries a Refusal out of nested annotation parsing to resolveOptions, which returns it; never escapes, has no code',
};

t.test('no error class outside the catalogue', async (t) => {
  const src = fileURLToPath(new URL('../../src/', import.meta.url));
  const found: string[] = [];
  const literals: string[] = [];
  for (const file of readdirSync(src, { recursive: true, encoding: 'utf8' })) {
    if (!file.endsWith('.ts')) continue;
    const text = readFileSync(`${src}${file}`, 'utf8');
    for (const match of text.matchAll(/class (\w+) extends Error\b/g)) found.push(`src/${file}: ${match[1]}`);
    if (file !== 'errors.ts') for (const match of text.matchAll(/SQ_[A-Z_]+/g)) literals.push(`src/${file}: ${match[0]}`);
  }
  t.same(found.sort(), Object.keys(KEPT_ERROR_CLASSES).sort(), 'only the error classes kept on purpose');
  t.same(literals, [], 'codes are named only in src/errors.ts');
});
