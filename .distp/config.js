import { existsSync, readFileSync } from 'node:fs';
import { delimiter, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ConfigInvalidError, KubeconfigInvalidError, SettingsInvalidError, SettingsUnreadableError } from './errors.js';
import { deepFreeze } from './injection/frozen-memo.js';
import { AGENT_PROFILES, AGENTS, DEFAULT_SETTINGS } from './injection/index.js';
import { DEFAULT_NAMESPACE, TEMPLATE_CONFIGMAP_NAME } from './webhook-contract.js';
import { parseAgent, parseConfigMapName, parseCpu, parseImage, parseLogGlob, parseLogPath, parseMemory, parseSecretName, parseSidecarMode } from './injection/values.js';
// The only module that reads settings from the environment, flags and files.
// Everything is validated once, here, and handed out frozen.
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
export const IN_CLUSTER_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';
function findCluster(flag, env, inPod) {
    if (flag !== undefined)
        return { kind: 'kubeconfig', path: flag, from: 'flag' };
    const fromEnv = env.KUBECONFIG || undefined;
    if (fromEnv !== undefined) {
        // kubectl merges a list; client-node reads one file, and a merged view is not worth guessing at.
        if (fromEnv.includes(delimiter)) {
            throw new KubeconfigInvalidError(`KUBECONFIG=${fromEnv}`, `it lists several files; sre-quero reads one: give --kubeconfig <file>`);
        }
        return { kind: 'kubeconfig', path: fromEnv, from: 'environment' };
    }
    return inPod ? { kind: 'in-cluster' } : undefined;
}
/**
 * Which cluster `serve` reconciles, if any, and why not when one was found.
 * `auto` runs in a pod (its service account, or the KUBECONFIG its manifest
 * sets) and with --kubeconfig; on a workstation, a KUBECONFIG the shell
 * happens to carry is not enough: a dev server must not start writing to
 * whatever cluster that is. `on` runs wherever a cluster is found.
 */
export function reconcilerTarget(reconciler) {
    const { mode, cluster, inPod } = reconciler;
    if (mode === 'off' || cluster === undefined)
        return { cluster: undefined };
    if (mode === 'auto' && cluster.kind === 'kubeconfig' && cluster.from === 'environment' && !inPod) {
        return {
            cluster: undefined,
            notStarted: `reconciler not started: KUBECONFIG=${cluster.path} points at a cluster, but serve reconciles one from the shell's KUBECONFIG only when asked: --reconciler on (or --kubeconfig ${cluster.path})`,
        };
    }
    return { cluster };
}
export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const DEV_CERT_DIR = resolve(PROJECT_ROOT, 'certs/dev');
const readUtf8 = (path) => readFileSync(path, 'utf8');
// Accepts a core validator as a zod refinement, so the settings file and the
// annotations obey exactly the same rules, and keeps its normalised value.
const validated = (parse) => z.string().transform((raw, ctx) => {
    const parsed = parse(raw);
    if (parsed.ok)
        return parsed.value;
    ctx.addIssue({ code: 'custom', message: `expected ${parsed.expected}` });
    return z.NEVER;
});
const quantityText = (parse) => validated(parse).transform((quantity) => quantity.text);
const quantityPair = z.strictObject({ cpu: quantityText(parseCpu), memory: quantityText(parseMemory) });
/** A value per agent; agents left out keep their defaults. */
const perAgent = (value) => z.strictObject({ promtail: value, alloy: value }).partial();
const repositories = z.array(z.string().min(1)).min(1);
const SettingsFileSchema = z
    .strictObject({
    agent: validated(parseAgent),
    allowedAgents: z.array(validated(parseAgent)).min(1),
    images: perAgent(z.string()),
    // Before there was a choice of agent: the promtail image (images.promtail).
    image: z.string(),
    sidecarMode: validated(parseSidecarMode),
    // Per agent; a plain list (the form before alloy) is promtail's.
    allowedImageRepositories: z.union([repositories, perAgent(repositories)]),
    logPath: validated(parseLogPath),
    logGlob: validated(parseLogGlob),
    metricsPort: z.number().int().min(1024).max(65535),
    configMap: validated(parseConfigMapName),
    credentialsSecret: validated(parseSecretName),
    resources: z.strictObject({ requests: quantityPair.partial(), limits: quantityPair.partial() }).partial(),
})
    .partial();
function formatIssues(error) {
    return error.issues.map((issue) => `${issue.path.join('.') || '(top level)'}: ${issue.message}`).join('; ');
}
/** Reads a YAML or JSON settings file and merges it over the defaults. */
export function loadSettings(path, readFile = readUtf8) {
    if (path === undefined)
        return DEFAULT_SETTINGS;
    let raw;
    try {
        raw = parseYaml(readFile(path)) ?? {};
    }
    catch (error) {
        throw new SettingsUnreadableError(path, error.message);
    }
    const parsed = SettingsFileSchema.safeParse(raw);
    if (!parsed.success)
        throw new SettingsInvalidError(path, formatIssues(parsed.error));
    const { image, images, allowedImageRepositories, allowedAgents, ...file } = parsed.data;
    if (image !== undefined && images?.promtail !== undefined && images.promtail !== image) {
        throw new SettingsInvalidError(path, `image and images.promtail name different images; image is the older name of images.promtail: keep one`);
    }
    const settings = {
        ...DEFAULT_SETTINGS,
        ...file,
        allowedAgents: allowedAgents === undefined ? DEFAULT_SETTINGS.allowedAgents : AGENTS.filter((agent) => allowedAgents.includes(agent)),
        images: { ...DEFAULT_SETTINGS.images, ...(image === undefined ? {} : { promtail: image }), ...images },
        allowedImageRepositories: {
            ...DEFAULT_SETTINGS.allowedImageRepositories,
            ...(Array.isArray(allowedImageRepositories) ? { promtail: allowedImageRepositories } : allowedImageRepositories),
        },
        resources: {
            requests: { ...DEFAULT_SETTINGS.resources.requests, ...file.resources?.requests },
            limits: { ...DEFAULT_SETTINGS.resources.limits, ...file.resources?.limits },
        },
    };
    if (!settings.allowedAgents.includes(settings.agent)) {
        throw new SettingsInvalidError(path, `agent: ${settings.agent} is not among allowedAgents (${settings.allowedAgents.join(', ')}); add it there or pick one of those`);
    }
    // A file in the form from before the choice of agent gets its messages in that form (`image:`).
    const legacy = images === undefined && (image !== undefined || Array.isArray(allowedImageRepositories));
    for (const agent of AGENTS) {
        const checked = parseImage(settings.images[agent], settings.allowedImageRepositories[agent], AGENT_PROFILES[agent].tag);
        if (checked.ok)
            continue;
        const field = agent === 'promtail' && legacy ? 'image' : `images.${agent}`;
        throw new SettingsInvalidError(path, `${field}: expected ${checked.expected}${legacy ? '' : ` (allowedImageRepositories.${agent})`}`);
    }
    for (const what of ['cpu', 'memory']) {
        const parse = what === 'cpu' ? parseCpu : parseMemory;
        const request = parse(settings.resources.requests[what]);
        const limit = parse(settings.resources.limits[what]);
        if (request.ok && limit.ok && request.value.amount > limit.value.amount) {
            throw new SettingsInvalidError(path, `resources.requests.${what} exceeds resources.limits.${what}`);
        }
    }
    return deepFreeze(settings);
}
const positiveInt = (name, min, max) => z.coerce.number({ error: `${name} must be a whole number` }).int(`${name} must be a whole number`).min(min, `${name} must be at least ${min}`).max(max, `${name} must be at most ${max}`);
const ServeSchema = z.object({
    listen: z.string().regex(/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):[0-9]{1,5}$/, 'listen must be host:port, such as 0.0.0.0:8443'),
    tlsCert: z.string().min(1).optional(),
    tlsKey: z.string().min(1).optional(),
    settings: z.string().min(1).optional(),
    logLevel: z.enum(LOG_LEVELS, { error: `log level must be one of ${LOG_LEVELS.join(', ')}` }),
    bodyLimitBytes: positiveInt('body limit', 1024 * 1024, 64 * 1024 * 1024),
    shutdownTimeoutMs: positiveInt('shutdown timeout', 1000, 120_000),
    certReloadIntervalMs: positiveInt('certificate reload interval', 1000, 3_600_000),
    reconciler: z.enum(['auto', 'on', 'off'], { error: 'reconciler must be auto (in a pod, or with --kubeconfig), on (wherever a cluster is found) or off' }),
    kubeconfig: z.string().min(1).optional(),
    namespace: z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'namespace must be a namespace name'),
    templateConfigMap: z.string().regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'template ConfigMap must be a ConfigMap name'),
    leaseDurationMs: positiveInt('lease duration', 1000, 300_000),
});
/** Flag name, environment variable, default. Flags win over the environment. */
const SERVE_OPTIONS = {
    listen: ['listen', 'SRE_QUERO_LISTEN', '127.0.0.1:8443'],
    tlsCert: ['tls-cert', 'SRE_QUERO_TLS_CERT', undefined],
    tlsKey: ['tls-key', 'SRE_QUERO_TLS_KEY', undefined],
    settings: ['settings', 'SRE_QUERO_SETTINGS', undefined],
    logLevel: ['log-level', 'SRE_QUERO_LOG_LEVEL', 'info'],
    // Reviews carry object and oldObject; the API server caps an object near 3 MiB.
    bodyLimitBytes: ['body-limit-bytes', 'SRE_QUERO_BODY_LIMIT_BYTES', String(8 * 1024 * 1024)],
    shutdownTimeoutMs: ['shutdown-timeout-ms', 'SRE_QUERO_SHUTDOWN_TIMEOUT_MS', '10000'],
    certReloadIntervalMs: ['cert-reload-interval-ms', 'SRE_QUERO_CERT_RELOAD_INTERVAL_MS', '10000'],
    // When the reconciler runs: see reconcilerTarget.
    reconciler: ['reconciler', 'SRE_QUERO_RECONCILER', 'auto'],
    // Read apart from the environment (findCluster): where a kubeconfig came from matters.
    kubeconfig: ['kubeconfig', 'KUBECONFIG', undefined],
    // Where the lease and the central promtail template live.
    namespace: ['namespace', 'SRE_QUERO_NAMESPACE', DEFAULT_NAMESPACE],
    templateConfigMap: ['template-configmap', 'SRE_QUERO_TEMPLATE_CONFIGMAP', TEMPLATE_CONFIGMAP_NAME],
    leaseDurationMs: ['lease-duration-ms', 'SRE_QUERO_LEASE_DURATION_MS', '15000'],
};
export const SERVE_FLAGS_HELP = Object.values(SERVE_OPTIONS)
    .map(([flag, env, fallback]) => `  --${flag.padEnd(24)} env ${env}${fallback === undefined ? '' : ` (default ${fallback})`}`)
    .join('\n');
export function loadServeConfig(argv, env, readFile = readUtf8, fileExists = existsSync) {
    let flags;
    try {
        flags = parseArgs({
            args: [...argv],
            options: Object.fromEntries(Object.values(SERVE_OPTIONS).map(([flag]) => [flag, { type: 'string' }])),
            strict: true,
            allowPositionals: false,
        }).values;
    }
    catch (error) {
        throw new ConfigInvalidError(error.message);
    }
    const raw = Object.fromEntries(
    // An empty variable counts as unset, as in most tools.
    Object.entries(SERVE_OPTIONS).map(([key, [flag, envName, fallback]]) => [key, key === 'kubeconfig' ? flags[flag] : (flags[flag] ?? (env[envName] || undefined) ?? fallback)]));
    const parsed = ServeSchema.safeParse(raw);
    if (!parsed.success)
        throw new ConfigInvalidError(formatIssues(parsed.error));
    const options = parsed.data;
    if ((options.tlsCert === undefined) !== (options.tlsKey === undefined)) {
        throw new ConfigInvalidError('give both --tls-cert and --tls-key, or neither for a development certificate');
    }
    const separator = options.listen.lastIndexOf(':');
    const port = Number(options.listen.slice(separator + 1));
    if (port > 65535)
        throw new ConfigInvalidError('listen port must be from 0 (any free port) to 65535');
    const dev = options.tlsCert === undefined;
    const inPod = Boolean(env.KUBERNETES_SERVICE_HOST) && fileExists(IN_CLUSTER_TOKEN);
    const cluster = findCluster(options.kubeconfig, env, inPod);
    if (options.reconciler === 'on' && cluster === undefined) {
        throw new ConfigInvalidError('--reconciler on needs a cluster: give --kubeconfig or KUBECONFIG, or run in a pod');
    }
    return deepFreeze({
        listen: { host: options.listen.slice(0, separator).replace(/^\[|\]$/g, ''), port },
        tls: {
            certFile: options.tlsCert ?? resolve(DEV_CERT_DIR, 'tls.crt'),
            keyFile: options.tlsKey ?? resolve(DEV_CERT_DIR, 'tls.key'),
            dev,
        },
        settingsFile: options.settings,
        settings: loadSettings(options.settings, readFile),
        logLevel: options.logLevel,
        bodyLimitBytes: options.bodyLimitBytes,
        shutdownTimeoutMs: options.shutdownTimeoutMs,
        certReloadIntervalMs: options.certReloadIntervalMs,
        reconciler: {
            mode: options.reconciler,
            cluster,
            inPod,
            namespace: options.namespace,
            templateConfigMap: options.templateConfigMap,
            leaseDurationMs: options.leaseDurationMs,
        },
    });
}
//# sourceMappingURL=config.js.map