import { AGENT_PROFILES, AGENTS, type Agent } from './agents.js';
import { ANNOTATIONS } from './annotations.js';
import { clip } from './decide.js';
import { refuse, type Refusal } from './reasons.js';
import type { InjectorSettings, ResourceSettings, SidecarMode } from './settings.js';
import { chooseAutoMode, type AutoModeReason, type NodeFacts } from './sidecar-mode.js';
import {
  oneOf,
  parseAgent,
  parseConfigMapName,
  parseContainerList,
  parseCpu,
  parseImage,
  parseJob,
  parseLogGlob,
  parseLogPath,
  parseMemory,
  parsePort,
  parseSecretName,
  parseSidecarMode,
  type Parsed,
  type Quantity,
} from './values.js';

/** Everything that varies per pod, after settings and annotations are merged. */
export interface InjectionOptions {
  /** The log shipper the sidecar runs, and who chose it. */
  agent: Agent;
  agentFrom: 'annotation' | 'settings';
  image: string;
  sidecarMode: SidecarMode;
  /** Who chose the mode, for the status annotation. */
  sidecarModeFrom: 'annotation' | 'settings';
  /** Set when the choice was `auto`: why it gave this mode. */
  sidecarModeReason: AutoModeReason | undefined;
  logPath: string;
  logGlob: string;
  /** App containers that get the log mount; undefined means all of them. */
  containers: string[] | undefined;
  /** Explicit `job` annotation; otherwise derived from the pod's labels. */
  job: string | undefined;
  metricsPort: number;
  configMap: string;
  /** Secret mounted for the Loki client's credentials; undefined: none. */
  credentialsSecret: string | undefined;
  resources: ResourceSettings;
}

class InvalidAnnotation extends Error {
  constructor(readonly refusal: Refusal) {
    super(refusal.message);
  }
}

function read<T>(annotations: Readonly<Record<string, string>>, key: string, parse: (raw: string) => Parsed<T>): T | undefined {
  const raw = annotations[key];
  if (raw === undefined) return undefined;
  const parsed = parse(raw);
  if (!parsed.ok) {
    throw new InvalidAnnotation(
      refuse('invalid_annotation', `annotation ${key}: "${clip(raw)}" is not valid; expected ${parsed.expected}`),
    );
  }
  return parsed.value;
}

const RESOURCE_KEYS = [ANNOTATIONS.cpuRequest, ANNOTATIONS.cpuLimit, ANNOTATIONS.memoryRequest, ANNOTATIONS.memoryLimit];

function resolveResources(annotations: Readonly<Record<string, string>>, defaults: ResourceSettings): ResourceSettings {
  if (RESOURCE_KEYS.every((key) => annotations[key] === undefined)) return defaults;
  const pick = (key: string, parse: (raw: string) => Parsed<Quantity>, fallback: string): Quantity => {
    const fromAnnotation = read(annotations, key, parse);
    if (fromAnnotation !== undefined) return fromAnnotation;
    const parsed = parse(fallback);
    // Settings were validated at start-up; a failure here is a programming error.
    if (!parsed.ok) throw new Error(`invalid default quantity ${fallback}`);
    return parsed.value;
  };
  const cpuRequest = pick(ANNOTATIONS.cpuRequest, parseCpu, defaults.requests.cpu);
  const cpuLimit = pick(ANNOTATIONS.cpuLimit, parseCpu, defaults.limits.cpu);
  const memoryRequest = pick(ANNOTATIONS.memoryRequest, parseMemory, defaults.requests.memory);
  const memoryLimit = pick(ANNOTATIONS.memoryLimit, parseMemory, defaults.limits.memory);
  for (const [what, request, limit, requestKey, limitKey] of [
    ['cpu', cpuRequest, cpuLimit, ANNOTATIONS.cpuRequest, ANNOTATIONS.cpuLimit],
    ['memory', memoryRequest, memoryLimit, ANNOTATIONS.memoryRequest, ANNOTATIONS.memoryLimit],
  ] as const) {
    if (request.amount > limit.amount) {
      // Name the annotation the user actually wrote; the other side is a default.
      const written = annotations[requestKey] !== undefined ? requestKey : limitKey;
      throw new InvalidAnnotation(
        refuse(
          'invalid_annotation',
          `annotation ${written}: the ${what} request ${request.text} would exceed the ${what} limit ${limit.text}; ` +
            `expected ${requestKey} no larger than ${limitKey}`,
        ),
      );
    }
  }
  return {
    requests: { cpu: cpuRequest.text, memory: memoryRequest.text },
    limits: { cpu: cpuLimit.text, memory: memoryLimit.text },
  };
}

/**
 * The agent the pod asks for, if it names one the platform allows
 * (settings `allowedAgents`); a refusal naming those otherwise.
 */
function readAgent(annotations: Readonly<Record<string, string>>, settings: InjectorSettings): Agent | undefined {
  const asked = read(annotations, ANNOTATIONS.agent, parseAgent);
  if (asked === undefined || settings.allowedAgents.includes(asked)) return asked;
  throw new InvalidAnnotation(
    refuse(
      'invalid_annotation',
      `annotation ${ANNOTATIONS.agent}: "${asked}" is not allowed here; expected ${oneOf(settings.allowedAgents)} (the agents the platform allows, settings allowedAgents)`,
    ),
  );
}

/**
 * The image annotation, checked against the repositories of the agent the
 * pod runs: an alloy pod may not name a promtail image, and the other way
 * round (it would start a binary with the other one's command line).
 */
function readImage(annotations: Readonly<Record<string, string>>, settings: InjectorSettings, agent: Agent): string | undefined {
  const forAgent = (which: Agent) => (raw: string) => parseImage(raw, settings.allowedImageRepositories[which], AGENT_PROFILES[which].tag);
  return read(annotations, ANNOTATIONS.image, (raw) => {
    const parsed = forAgent(agent)(raw);
    if (parsed.ok) return parsed;
    const other = AGENTS.find((each) => each !== agent && settings.allowedAgents.includes(each) && forAgent(each)(raw).ok);
    const hint = other === undefined ? '' : `; that is an image of the ${other} agent: set ${ANNOTATIONS.agent}: "${other}" to run it`;
    return { ok: false, expected: `${parsed.expected} (the pod runs the ${agent} agent)${hint}` };
  });
}

/** The agent a pod gets, or undefined when its annotation names one that is unknown or not allowed (a refusal). */
export function chosenAgent(annotations: Readonly<Record<string, string>>, settings: InjectorSettings): Agent | undefined {
  const parsed = parseAgent(annotations[ANNOTATIONS.agent] ?? settings.agent);
  return parsed.ok && settings.allowedAgents.includes(parsed.value) ? parsed.value : undefined;
}

/** Merges the pod's annotations over the settings, validating every value. */
export function resolveOptions(
  annotations: Readonly<Record<string, string>>,
  settings: InjectorSettings,
  cluster: { nodes: NodeFacts | undefined; nodeName: string | undefined } = { nodes: undefined, nodeName: undefined },
): InjectionOptions | Refusal {
  try {
    const modeAnnotation = read(annotations, ANNOTATIONS.sidecarMode, parseSidecarMode);
    const asked = modeAnnotation ?? settings.sidecarMode;
    const auto = asked === 'auto' ? chooseAutoMode(cluster.nodes, cluster.nodeName) : undefined;
    const agentAnnotation = readAgent(annotations, settings);
    const agent = agentAnnotation ?? settings.agent;
    return {
      agent,
      agentFrom: agentAnnotation === undefined ? 'settings' : 'annotation',
      sidecarMode: auto?.mode ?? (asked as SidecarMode),
      sidecarModeFrom: modeAnnotation === undefined ? 'settings' : 'annotation',
      sidecarModeReason: auto?.reason,
      image: readImage(annotations, settings, agent) ?? settings.images[agent],
      logPath: read(annotations, ANNOTATIONS.logPath, parseLogPath) ?? settings.logPath,
      logGlob: read(annotations, ANNOTATIONS.logGlob, parseLogGlob) ?? settings.logGlob,
      containers: read(annotations, ANNOTATIONS.containers, parseContainerList),
      job: read(annotations, ANNOTATIONS.job, parseJob),
      metricsPort: read(annotations, ANNOTATIONS.metricsPort, parsePort) ?? settings.metricsPort,
      configMap: read(annotations, ANNOTATIONS.configMap, parseConfigMapName) ?? settings.configMap,
      credentialsSecret: read(annotations, ANNOTATIONS.credentialsSecret, parseSecretName) ?? settings.credentialsSecret,
      // The agent's own defaults: the agents need different amounts (agents.ts).
      resources: resolveResources(annotations, settings.resources[agent]),
    };
  } catch (error) {
    if (error instanceof InvalidAnnotation) return error.refusal;
    throw error;
  }
}
