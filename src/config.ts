import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ConfigInvalidError, KubeconfigInvalidError, SettingsInvalidError, SettingsUnreadableError } from './errors.js';
import { deepFreeze } from './injection/frozen-memo.js';
import { AGENT_PROFILES, AGENTS, DEFAULT_SETTINGS, type Agent, type InjectorSettings, type ResourceSettings } from './injection/index.js';
import { DEFAULT_NAMESPACE, TEMPLATE_CONFIGMAP_NAME } from './webhook-contract.js';
import { parseAgent, parseConfigMapName, parseCpu, parseImage, parseLogGlob, parseLogPath, parseMemory, parseSecretName, parseSidecarMode, type Parsed } from './injection/values.js';

// The only module that reads settings from the environment, flags and files.
// Everything is validated once, here, and handed out frozen.

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export interface ServeConfig {
  listen: { host: string; port: number };
  tls: {
    certFile: string;
    keyFile: string;
    /** Development mode: no certificate was named, so one is made in certs/dev when absent. */
    dev: boolean;
  };
  settingsFile: string | undefined;
  settings: InjectorSettings;
  logLevel: (typeof LOG_LEVELS)[number];
  bodyLimitBytes: number;
  shutdownTimeoutMs: number;
  certReloadIntervalMs: number;
  reconciler: {
    mode: 'auto' | 'on' | 'off';
    /** Where a cluster was found (whether or not the mode runs the reconciler on it; see reconcilerTarget); undefined: none. */
    cluster: ClusterSource | undefined;
    /** Whether this process runs in a pod (a service account token and KUBERNETES_SERVICE_HOST). */
    inPod: boolean;
    namespace: string;
    templateConfigMap: string;
    leaseDurationMs: number;
  };
}

/** An explicit kubeconfig (--kubeconfig or KUBECONFIG, `from` says which) wins over the pod's own service account. */
export type ClusterSource = { kind: 'kubeconfig'; path: string; from: 'flag' | 'environment' | 'home' } | { kind: 'in-cluster' };

export const IN_CLUSTER_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

export function findCluster(flag: string | undefined, env: NodeJS.ProcessEnv, inPod: boolean): ClusterSource | undefined {
  if (flag !== undefined) return { kind: 'kubeconfig', path: flag, from: 'flag' };
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
 * The cluster a command that only reads (`explain pod`, `explain cluster`)
 * talks to, found as kubectl finds it: --kubeconfig, KUBECONFIG,
 * ~/.kube/config, then the pod's own service account.
 */
export function findReadCluster(flag: string | undefined, env: NodeJS.ProcessEnv, fileExists: (path: string) => boolean = existsSync, home: string = homedir()): ClusterSource {
  const explicit = findCluster(flag, env, false);
  if (explicit !== undefined) return explicit;
  const standard = join(home, '.kube', 'config');
  if (fileExists(standard)) return { kind: 'kubeconfig', path: standard, from: 'home' };
  if (Boolean(env.KUBERNETES_SERVICE_HOST) && fileExists(IN_CLUSTER_TOKEN)) return { kind: 'in-cluster' };
  throw new KubeconfigInvalidError('(none)', 'no --kubeconfig, no KUBECONFIG and no ~/.kube/config, and not in a pod: give --kubeconfig <file>');
}

/**
 * Which cluster `serve` reconciles, if any, and why not when one was found.
 * `auto` runs in a pod (its service account, or the KUBECONFIG its manifest
 * sets) and with --kubeconfig; on a workstation, a KUBECONFIG the shell
 * happens to carry is not enough: a dev server must not start writing to
 * whatever cluster that is. `on` runs wherever a cluster is found.
 */
export function reconcilerTarget(reconciler: Pick<ServeConfig['reconciler'], 'mode' | 'cluster' | 'inPod'>): { cluster: ClusterSource | undefined; notStarted?: string } {
  const { mode, cluster, inPod } = reconciler;
  if (mode === 'off' || cluster === undefined) return { cluster: undefined };
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

type ReadFile = (path: string) => string;
const readUtf8: ReadFile = (path) => readFileSync(path, 'utf8');

// Accepts a core validator as a zod refinement, so the settings file and the
// annotations obey exactly the same rules, and keeps its normalised value.
const validated = <T>(parse: (raw: string) => Parsed<T>) =>
  z.string().transform((raw, ctx) => {
    const parsed = parse(raw);
    if (parsed.ok) return parsed.value;
    ctx.addIssue({ code: 'custom', message: `expected ${parsed.expected}` });
    return z.NEVER;
  });

const quantityText = (parse: (raw: string) => Parsed<{ text: string }>) => validated(parse).transform((quantity) => quantity.text);
const quantityPair = z.strictObject({ cpu: quantityText(parseCpu), memory: quantityText(parseMemory) });

/** A value per agent; agents left out keep their defaults. */
const perAgent = <T extends z.ZodType>(value: T, params?: Parameters<typeof z.strictObject>[1]) =>
  z.strictObject({ promtail: value, alloy: value } satisfies Record<Agent, T>, params).partial();
const repositories = z.array(z.string().min(1)).min(1);

const RESOURCES_FORMS =
  "expected resources per agent (promtail, alloy: each with requests and limits) or, the form from before the choice of agent, promtail's alone (requests and limits)";
/** An unknown key's message that names the keys expected there, so a typo does not read as a complaint about the other form. */
const unknownKeys = (expected: string) => ({
  error: (issue: z.core.$ZodRawIssue<z.core.$ZodIssue>) => {
    if (issue.code !== 'unrecognized_keys') return undefined; // zod's own message
    return `unrecognized key${issue.keys.length === 1 ? '' : 's'} ${issue.keys.map((key) => `"${key}"`).join(', ')}; ${expected}`;
  },
});
/** One agent's resources, each field optional: merged over that agent's defaults. */
const agentResources = (expected: string) => z.strictObject({ requests: quantityPair.partial(), limits: quantityPair.partial() }, unknownKeys(expected)).partial();
const resourcesPerAgent = perAgent(agentResources('expected requests and limits'), unknownKeys(RESOURCES_FORMS));
/** The form from before the choice of agent: promtail's requests and limits directly under `resources`. */
const resourcesLegacy = agentResources(RESOURCES_FORMS);
type AgentResources = z.output<typeof resourcesLegacy>;
const isAgent = (key: string): boolean => (AGENTS as readonly string[]).includes(key);

/**
 * `resources`, per agent or in the form from before the choice of agent
 * (promtail's). The form is told from the keys, not by trying both (a zod
 * union): a union answers "Invalid input" with both forms' complaints, or
 * only the wrong one's, and a typo deep in one form would be reported as the
 * other's unknown key. `legacy` says which form the file used, for messages.
 */
const resourcesSetting = z.unknown().transform((raw, ctx): { legacy: boolean } & Partial<Record<Agent, AgentResources>> => {
  const keys = typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? Object.keys(raw) : [];
  const legacy = !keys.some(isAgent);
  if (!legacy && keys.some((key) => key === 'requests' || key === 'limits')) {
    ctx.addIssue({ code: 'custom', message: `both forms at once (${keys.join(', ')}); ${RESOURCES_FORMS}, not both` });
    return z.NEVER;
  }
  const parsed = legacy ? resourcesLegacy.safeParse(raw) : resourcesPerAgent.safeParse(raw);
  if (!parsed.success) return relayIssues(parsed.error, ctx);
  return legacy ? { legacy, promtail: parsed.data as AgentResources } : { legacy, ...(parsed.data as Partial<Record<Agent, AgentResources>>) };
});

/** A nested schema's issues, each with its path under the field and its message. */
function relayIssues(error: z.ZodError, ctx: z.RefinementCtx): typeof z.NEVER {
  for (const issue of error.issues) ctx.addIssue({ code: 'custom', message: issue.message, path: issue.path });
  return z.NEVER;
}

const REPOSITORIES_FORMS =
  "expected repositories per agent (promtail, alloy: each a list) or, the form from before the choice of agent, promtail's list alone";
const repositoriesPerAgent = perAgent(repositories, unknownKeys(REPOSITORIES_FORMS));
/** `allowedImageRepositories`: per agent, or a plain list (promtail's); told apart by the shape, as `resources`, so a mistake in one form is not reported as the other's. */
const repositoriesSetting = z.unknown().transform((raw, ctx): string[] | Partial<Record<Agent, string[]>> => {
  if (!Array.isArray(raw) && (typeof raw !== 'object' || raw === null)) {
    ctx.addIssue({ code: 'custom', message: REPOSITORIES_FORMS });
    return z.NEVER;
  }
  const parsed = Array.isArray(raw) ? repositories.safeParse(raw) : repositoriesPerAgent.safeParse(raw);
  return parsed.success ? parsed.data : relayIssues(parsed.error, ctx);
});

const SettingsFileSchema = z
  .strictObject({
    agent: validated(parseAgent),
    allowedAgents: z.array(validated(parseAgent)).min(1),
    images: perAgent(z.string()),
    // Before there was a choice of agent: the promtail image (images.promtail).
    image: z.string(),
    sidecarMode: validated(parseSidecarMode),
    // Per agent; a plain list (the form before alloy) is promtail's.
    allowedImageRepositories: repositoriesSetting,
    logPath: validated(parseLogPath),
    logGlob: validated(parseLogGlob),
    metricsPort: z.number().int().min(1024).max(65535),
    configMap: validated(parseConfigMapName),
    credentialsSecret: validated(parseSecretName),
    // Per agent; requests and limits alone (the form before alloy) are promtail's.
    resources: resourcesSetting,
  })
  .partial();

function formatIssues(error: z.ZodError): string {
  return error.issues.map((issue) => `${issue.path.join('.') || '(top level)'}: ${issue.message}`).join('; ');
}

/** Reads a YAML or JSON settings file and merges it over the defaults. */
export function loadSettings(path: string | undefined, readFile: ReadFile = readUtf8): InjectorSettings {
  if (path === undefined) return DEFAULT_SETTINGS;
  let raw: unknown;
  try {
    raw = parseYaml(readFile(path)) ?? {};
  } catch (error) {
    throw new SettingsUnreadableError(path, (error as Error).message);
  }
  const parsed = SettingsFileSchema.safeParse(raw);
  if (!parsed.success) throw new SettingsInvalidError(path, formatIssues(parsed.error));
  const { image, images, allowedImageRepositories, allowedAgents, resources, ...file } = parsed.data;
  if (image !== undefined && images?.promtail !== undefined && images.promtail !== image) {
    throw new SettingsInvalidError(path, `image and images.promtail name different images; image is the older name of images.promtail: keep one`);
  }
  const settings: InjectorSettings = {
    ...DEFAULT_SETTINGS,
    ...file,
    allowedAgents: allowedAgents === undefined ? DEFAULT_SETTINGS.allowedAgents : AGENTS.filter((agent) => allowedAgents.includes(agent)),
    images: { ...DEFAULT_SETTINGS.images, ...(image === undefined ? {} : { promtail: image }), ...images },
    allowedImageRepositories: {
      ...DEFAULT_SETTINGS.allowedImageRepositories,
      ...(Array.isArray(allowedImageRepositories) ? { promtail: allowedImageRepositories } : allowedImageRepositories),
    },
    resources: {
      promtail: mergeResources('promtail', resources?.promtail),
      alloy: mergeResources('alloy', resources?.alloy),
    },
  };
  if (!settings.allowedAgents.includes(settings.agent)) {
    throw new SettingsInvalidError(path, `agent: ${settings.agent} is not among allowedAgents (${settings.allowedAgents.join(', ')}); add it there or pick one of those`);
  }
  // A file in the form from before the choice of agent gets its messages in that form (`image:`).
  const legacy = images === undefined && (image !== undefined || Array.isArray(allowedImageRepositories));
  for (const agent of AGENTS) {
    const checked = parseImage(settings.images[agent], settings.allowedImageRepositories[agent], AGENT_PROFILES[agent].tag);
    if (checked.ok) continue;
    const field = agent === 'promtail' && legacy ? 'image' : `images.${agent}`;
    throw new SettingsInvalidError(path, `${field}: expected ${checked.expected}${legacy ? '' : ` (allowedImageRepositories.${agent})`}`);
  }
  for (const agent of AGENTS) {
    // Named as the file wrote it: in the older form, promtail's are resources.requests and resources.limits.
    const field = agent === 'promtail' && resources?.legacy === true ? 'resources' : `resources.${agent}`;
    for (const what of ['cpu', 'memory'] as const) {
      const parse = what === 'cpu' ? parseCpu : parseMemory;
      const request = parse(settings.resources[agent].requests[what]);
      const limit = parse(settings.resources[agent].limits[what]);
      if (request.ok && limit.ok && request.value.amount > limit.value.amount) {
        // One side may be the agent's default, not in the file: say both values.
        throw new SettingsInvalidError(path, `${field}.requests.${what} exceeds ${field}.limits.${what} (${request.value.text} > ${limit.value.text})`);
      }
    }
  }
  return deepFreeze(settings);
}

/** One agent's resources from the file, each field over that agent's defaults. */
function mergeResources(agent: Agent, fromFile: AgentResources | undefined): ResourceSettings {
  const defaults = DEFAULT_SETTINGS.resources[agent];
  if (fromFile === undefined) return defaults;
  return { requests: { ...defaults.requests, ...fromFile.requests }, limits: { ...defaults.limits, ...fromFile.limits } };
}


const positiveInt = (name: string, min: number, max: number) =>
  z.coerce.number({ error: `${name} must be a whole number` }).int(`${name} must be a whole number`).min(min, `${name} must be at least ${min}`).max(max, `${name} must be at most ${max}`);

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
} as const satisfies Record<keyof z.input<typeof ServeSchema>, readonly [string, string, string | undefined]>;

export const SERVE_FLAGS_HELP = Object.values(SERVE_OPTIONS)
  .map(([flag, env, fallback]) => `  --${flag.padEnd(24)} env ${env}${fallback === undefined ? '' : ` (default ${fallback})`}`)
  .join('\n');

export function loadServeConfig(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  readFile: ReadFile = readUtf8,
  fileExists: (path: string) => boolean = existsSync,
): ServeConfig {
  let flags: Record<string, string | undefined>;
  try {
    flags = parseArgs({
      args: [...argv],
      options: Object.fromEntries(Object.values(SERVE_OPTIONS).map(([flag]) => [flag, { type: 'string' }])),
      strict: true,
      allowPositionals: false,
    }).values as Record<string, string | undefined>;
  } catch (error) {
    throw new ConfigInvalidError((error as Error).message);
  }
  const raw = Object.fromEntries(
    // An empty variable counts as unset, as in most tools.
    Object.entries(SERVE_OPTIONS).map(([key, [flag, envName, fallback]]) => [key, key === 'kubeconfig' ? flags[flag] : (flags[flag] ?? (env[envName] || undefined) ?? fallback)]),
  );
  const parsed = ServeSchema.safeParse(raw);
  if (!parsed.success) throw new ConfigInvalidError(formatIssues(parsed.error));
  const options = parsed.data;
  if ((options.tlsCert === undefined) !== (options.tlsKey === undefined)) {
    throw new ConfigInvalidError('give both --tls-cert and --tls-key, or neither for a development certificate');
  }
  const separator = options.listen.lastIndexOf(':');
  const port = Number(options.listen.slice(separator + 1));
  if (port > 65535) throw new ConfigInvalidError('listen port must be from 0 (any free port) to 65535');
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
