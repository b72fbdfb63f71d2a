// The pure injection core: no I/O, no logger, no HTTP, no Kubernetes client.
export { ANNOTATIONS, INJECTED_LABEL, PREFIX } from './annotations.js';
export { decide, isInjected, isWindowsPod, MODES } from './decide.js';
export { injectPod } from './inject.js';
export { hasStatus, readStatus, withStatus } from './status.js';
export { diffToPatch } from './patch.js';
export { podShapeProblem } from './pod.js';
export { chooseAutoMode } from './sidecar-mode.js';
export { AGENT_PROFILES, AGENTS } from './agents.js';
export { LAYOUT } from './layout.js';
export { DEFAULT_SETTINGS } from './settings.js';
//# sourceMappingURL=index.js.map