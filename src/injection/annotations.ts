// The annotation and label contract users write (design.md §2).

export const PREFIX = 'logging.sre-quero/';

export const ANNOTATIONS = {
  sidecar: `${PREFIX}sidecar`,
  sidecarMode: `${PREFIX}sidecar-mode`,
  agent: `${PREFIX}agent`,
  logPath: `${PREFIX}log-path`,
  logGlob: `${PREFIX}log-glob`,
  containers: `${PREFIX}containers`,
  job: `${PREFIX}job`,
  image: `${PREFIX}image`,
  metricsPort: `${PREFIX}metrics-port`,
  configMap: `${PREFIX}config-map`,
  credentialsSecret: `${PREFIX}credentials-secret`,
  cpuRequest: `${PREFIX}cpu-request`,
  cpuLimit: `${PREFIX}cpu-limit`,
  memoryRequest: `${PREFIX}memory-request`,
  memoryLimit: `${PREFIX}memory-limit`,
  status: `${PREFIX}status`,
} as const;

/** The namespace label whose value (enabled, enforced, disabled) selects the webhook entry, and so the mode. */
export const NAMESPACE_LABEL = `${PREFIX}injection`;

/** Added to every injected pod so watchers (the reconciler) can select them cheaply. */
export const INJECTED_LABEL = `${PREFIX}injected`;

const KNOWN_KEYS: ReadonlySet<string> = new Set(Object.values(ANNOTATIONS));

/** Annotation keys under our prefix that nobody reads: most likely typos. */
export function unknownAnnotationKeys(annotations: Readonly<Record<string, string>>): string[] {
  const unknown: string[] = [];
  for (const key in annotations) {
    if (key.startsWith(PREFIX) && !KNOWN_KEYS.has(key)) unknown.push(key);
  }
  return unknown;
}
