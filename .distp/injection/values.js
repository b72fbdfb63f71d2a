// Validators for every user-supplied value. Each returns the parsed value or
// the accepted form, so callers can name the annotation (or settings field) in
// the message. Shared by per-pod annotations and the server's settings file.
import { posix } from 'node:path';
import { AGENTS } from './agents.js';
import { SIDECAR_MODE_SETTINGS } from './settings.js';
const ok = (value) => ({ ok: true, value });
const fail = (expected) => ({ ok: false, expected });
// Mounting an emptyDir over these would hide what the app needs to run.
const FORBIDDEN_TREES = ['/bin', '/boot', '/dev', '/etc', '/lib', '/lib32', '/lib64', '/proc', '/run', '/sbin', '/sys', '/usr', '/var/run'];
const FORBIDDEN_EXACT = new Set(['/home', '/mnt', '/opt', '/root', '/srv', '/tmp', '/var', '/var/lib', '/var/log']);
/** `/var/log/app/` and `/var/log/app` name the same folder. */
export const withoutTrailingSlash = (path) => (path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path);
/**
 * The folder a mount path names once the runtime cleans it: `/var/log/app/.`,
 * `//var/log/app` and `/var/log/x/../app` are all `/var/log/app`.
 */
export const folderOf = (path) => withoutTrailingSlash(posix.normalize(path));
const PATH_SEGMENT = /^[A-Za-z0-9._-]+$/;
export function parseLogPath(raw) {
    const expected = 'an absolute folder such as /var/log/app (letters, digits, . _ -; no "..", not / and not a system folder like /etc)';
    if (raw.length === 0 || raw.length > 200 || !raw.startsWith('/'))
        return fail(expected);
    const path = withoutTrailingSlash(raw);
    const segments = path.split('/').slice(1);
    if (segments.some((s) => s === '.' || s === '..' || !PATH_SEGMENT.test(s)))
        return fail(expected);
    if (FORBIDDEN_EXACT.has(path))
        return fail(expected);
    if (FORBIDDEN_TREES.some((tree) => path === tree || path.startsWith(`${tree}/`)))
        return fail(expected);
    return ok(path);
}
const GLOB_SEGMENT = /^[A-Za-z0-9._*?[\]{},-]+$/;
export function parseLogGlob(raw) {
    const expected = 'a relative file pattern such as *.log or **/*.log (letters, digits, . _ - * ? [ ] { } , and /; no "..")';
    if (raw.length === 0 || raw.length > 100)
        return fail(expected);
    const segments = raw.split('/');
    if (segments.some((s) => s === '' || s === '.' || s === '..' || !GLOB_SEGMENT.test(s)))
        return fail(expected);
    return ok(raw);
}
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
export function parseContainerList(raw) {
    const expected = 'a comma-separated list of container names such as app,worker';
    const names = raw.split(',').map((name) => name.trim());
    if (names.some((name) => name.length > 63 || !DNS_LABEL.test(name)))
        return fail(expected);
    if (new Set(names).size !== names.length)
        return fail(`${expected}, each named once`);
    return ok(names);
}
const LABEL_VALUE = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
export function parseJob(raw) {
    if (raw.length > 63 || !LABEL_VALUE.test(raw)) {
        return fail('a label value of at most 63 characters: letters, digits, - _ . , starting and ending with a letter or digit');
    }
    return ok(raw);
}
// registry[:port]/path[:tag][@sha256:digest], lower-case path components.
const IMAGE_REFERENCE = /^(?<repository>(?:[a-zA-Z0-9.-]+(?::[0-9]+)?\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)(?::(?<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?(?:@(?<digest>sha256:[a-f0-9]{64}))?$/;
/** An image pinned by tag or digest whose repository is one of `allowedRepositories`; `exampleTag` shows the form. */
export function parseImage(raw, allowedRepositories, exampleTag) {
    const allowed = allowedRepositories.join(' or ');
    const expected = `an image of ${allowed} pinned by tag or digest, such as ${allowedRepositories[0] ?? 'grafana/promtail'}:${exampleTag}`;
    const match = IMAGE_REFERENCE.exec(raw);
    if (match?.groups === undefined || raw.length > 255)
        return fail(expected);
    const { repository, tag, digest } = match.groups;
    if (tag === undefined && digest === undefined)
        return fail(expected);
    if (tag === 'latest' && digest === undefined)
        return fail(expected);
    if (!allowedRepositories.includes(repository))
        return fail(expected);
    return ok(raw);
}
export function parsePort(raw) {
    const expected = 'a port number from 1024 to 65535 (the sidecar runs without privileges)';
    if (!/^[1-9][0-9]{0,4}$/.test(raw))
        return fail(expected);
    const port = Number(raw);
    return port >= 1024 && port <= 65535 ? ok(port) : fail(expected);
}
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** A validator for the name of a `kind` object (ConfigMap, Secret): a DNS subdomain. */
const objectName = (kind) => (raw) => raw.length <= 253 && DNS_SUBDOMAIN.test(raw) ? ok(raw) : fail(`a ${kind} name: lower-case letters, digits, - and ., at most 253 characters`);
export const parseConfigMapName = objectName('ConfigMap');
export const parseSecretName = objectName('Secret');
/** `"a", "b" or "c"`: the accepted values, for a message. */
export const oneOf = (values) => values.map((v) => `"${v}"`).join(', ').replace(/, ([^,]*)$/, ' or $1');
export function parseSidecarMode(raw) {
    return SIDECAR_MODE_SETTINGS.includes(raw) ? ok(raw) : fail(oneOf(SIDECAR_MODE_SETTINGS));
}
export function parseAgent(raw) {
    return AGENTS.includes(raw) ? ok(raw) : fail(oneOf(AGENTS));
}
export function parseBoolean(raw) {
    if (raw === 'true')
        return ok(true);
    if (raw === 'false')
        return ok(false);
    return fail('"true" or "false"');
}
// Kubernetes quantities, the subset people write for containers.
const QUANTITY = /^(?<number>[0-9]+(?:\.[0-9]+)?)(?<suffix>m|k|M|G|T|Ki|Mi|Gi|Ti)?$/;
const SUFFIX_FACTORS = {
    '': 1, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40,
};
const CPU_RANGE = { scale: 1000, min: 1, max: 4000, form: 'a CPU quantity from 1m to 4, such as 50m or 0.5' };
const MEMORY_RANGE = { scale: 1, min: 16 * 2 ** 20, max: 4 * 2 ** 30, form: 'a memory quantity from 16Mi to 4Gi, such as 64Mi' };
function parseQuantity(raw, range) {
    const match = QUANTITY.exec(raw);
    if (match?.groups === undefined)
        return fail(range.form);
    const exact = Number(match.groups.number) * SUFFIX_FACTORS[match.groups.suffix ?? ''] * range.scale;
    // Whole base units only (no 0.5m); rounding absorbs float noise, so 700m and 0.7 compare equal.
    const amount = Math.round(exact);
    if (Math.abs(exact - amount) > 1e-6 || !(amount >= range.min && amount <= range.max))
        return fail(range.form);
    return ok({ text: raw, amount });
}
export const parseCpu = (raw) => parseQuantity(raw, CPU_RANGE);
export const parseMemory = (raw) => parseQuantity(raw, MEMORY_RANGE);
//# sourceMappingURL=values.js.map