// The pure injection core: no I/O, no logger, no HTTP, no Kubernetes client.
export { ANNOTATIONS, INJECTED_LABEL, NAMESPACE_LABEL, PREFIX } from './annotations.js';
export { decide, isInjected, isWindowsPod, MODES, type Mode } from './decide.js';
export { injectPod, type InjectedSidecar, type InjectionResult } from './inject.js';
export { hasStatus, readStatus, withStatus, type InjectionStatus, type StatusFacts } from './status.js';
export { chosenAgent, resolveOptions } from './overrides.js';
export { explain, type Explanation } from './explain.js';
export { diffToPatch, type Operation } from './patch.js';
export { podShapeProblem, type PodTemplate } from './pod.js';
export type { InjectReason, RefuseReason, SkipReason } from './reasons.js';
export { chooseAutoMode, type AutoModeReason, type NodeFacts } from './sidecar-mode.js';
export { AGENT_PROFILES, AGENTS, type Agent, type AgentProfile } from './agents.js';
export { LAYOUT } from './layout.js';
export { DEFAULT_SETTINGS, type InjectorSettings, type ResourceSettings } from './settings.js';
