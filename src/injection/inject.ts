import { isDeepStrictEqual } from 'node:util';
import { ANNOTATIONS, INJECTED_LABEL, unknownAnnotationKeys } from './annotations.js';
import { clip, decide, type Mode } from './decide.js';
import { resolveOptions, type InjectionOptions } from './overrides.js';
import type { Container, PodTemplate, Volume } from './pod.js';
import { refuse, type InjectReason, type Refusal, type SkipReason } from './reasons.js';
import { LAYOUT } from './layout.js';
import type { InjectorSettings } from './settings.js';
import type { AutoModeReason, NodeFacts } from './sidecar-mode.js';
import { withStatus, type InjectionStatus } from './status.js';
import { drainSeconds } from './shutdown.js';
import { logMount, sidecarContainer, sidecarVolumes } from './sidecar.js';
import { folderOf, parseJob } from './values.js';

export type InjectionResult =
  | { kind: 'injected'; reason: InjectReason; pod: PodTemplate; warnings: string[]; sidecar: InjectedSidecar }
  | { kind: 'skipped'; reason: SkipReason }
  | Refusal;

/** What the admission log line and metrics say about an injected sidecar: its agent and mode, and who chose them. */
export type InjectedSidecar = Pick<InjectionStatus, 'agent' | 'sidecarMode' | 'sidecarModeFrom' | 'sidecarModeReason'> & { agentFrom: 'annotation' | 'settings' };

const AUTO_REASON_TEXT: Record<AutoModeReason, string> = {
  nodes_support_native: 'every node supports native sidecars',
  node_too_old: 'a node runs a kubelet older than 1.33',
  no_node_information: 'the injector knows no node versions',
};

const NO_ANNOTATIONS: Readonly<Record<string, string>> = Object.freeze({});
const OPT_OUT_HINT = `or opt the pod out with ${ANNOTATIONS.sidecar}: "false"`;

/**
 * The pure core: returns the pod with the logging sidecar layout added, or why
 * it was skipped or refused. Never mutates its input; unchanged parts of the
 * pod are shared with the result, so diffing stays cheap.
 */
export function injectPod(pod: PodTemplate, settings: InjectorSettings, mode: Mode, nodes?: NodeFacts): InjectionResult {
  const annotations = pod.metadata?.annotations ?? NO_ANNOTATIONS;
  const decision = decide(annotations, pod.spec, mode);
  if (decision.kind === 'skip') return { kind: 'skipped', reason: decision.reason };
  if (decision.kind === 'refused') return decision;

  const nodeName = typeof pod.spec.nodeName === 'string' ? pod.spec.nodeName : undefined;
  const options = resolveOptions(annotations, settings, { nodes, nodeName });
  if ('kind' in options) return options;

  const appContainers = pod.spec.containers.map((c) => c.name);
  // Init containers get the log folder only when listed: their files are
  // shipped once the sidecar runs (native: it runs before them).
  const initNames = (pod.spec.initContainers ?? []).map((c) => c.name);
  const targets = options.containers ?? appContainers;
  const missing = targets.filter((name) => !appContainers.includes(name) && !initNames.includes(name));
  if (missing.length > 0) {
    return refuse(
      'unknown_container',
      `annotation ${ANNOTATIONS.containers}: no container named ${missing.map((m) => `"${clip(m)}"`).join(', ')} in the pod; ` +
        `expected names from: ${clipList([...appContainers, ...initNames])}`,
    );
  }

  const restartPolicy = pod.spec.restartPolicy;
  if (options.sidecarMode === 'classic' && (restartPolicy === 'Never' || restartPolicy === 'OnFailure')) {
    const why = options.sidecarModeReason === undefined ? '' : ` (sidecar mode auto chose classic: ${AUTO_REASON_TEXT[options.sidecarModeReason]})`;
    return refuse(
      'needs_native_sidecar',
      `restartPolicy ${restartPolicy} (a Job's pod): a classic sidecar keeps running after the app exits, so the pod would never complete${why}; ` +
        `set ${ANNOTATIONS.sidecarMode}: "native" (Kubernetes 1.29 or newer) ${OPT_OUT_HINT}`,
    );
  }

  const wanted = sidecarVolumes(options);
  const conflict = findConflict(pod, options, targets, wanted);
  if (conflict !== undefined) return conflict;

  const volumes = pod.spec.volumes ?? [];
  const reusedVolumes = wanted.filter((v) => volumes.some((existing) => existing.name === v.name)).map((v) => v.name);
  const addedVolumes = wanted.filter((v) => !reusedVolumes.includes(v.name));
  const warnings = [...decision.warnings, ...unknownAnnotationKeys(annotations).map((key) => `unknown annotation ${clip(key)} is ignored`)];
  if (reusedVolumes.includes(LAYOUT.logVolume)) {
    warnings.push(`the pod's own emptyDir volume "${LAYOUT.logVolume}" is reused for the logs`);
  }

  const targetSet = new Set(targets);
  const mount = logMount(options);
  const withMount = (container: Container): Container =>
    targetSet.has(container.name) && !mountsLogFolder(container, options) ? { ...container, volumeMounts: [...(container.volumeMounts ?? []), mount] } : container;
  const containers: Container[] = pod.spec.containers.map(withMount);
  const ownInit = pod.spec.initContainers?.map(withMount);
  const sidecar = sidecarContainer(options, jobOf(pod, options, targets), targets, drainSeconds(nodes, nodeName, pod.spec.terminationGracePeriodSeconds));
  // Native: first, so it runs before any other init container and ships its logs too.
  const initContainers = options.sidecarMode === 'native' ? [sidecar, ...(ownInit ?? [])] : ownInit;
  if (options.sidecarMode === 'classic') containers.push(sidecar);

  const status: InjectionStatus = {
    sidecar: LAYOUT.sidecarName,
    agent: options.agent,
    sidecarMode: options.sidecarMode,
    sidecarModeFrom: options.sidecarModeFrom,
    ...(options.sidecarModeReason === undefined ? {} : { sidecarModeReason: options.sidecarModeReason }),
    image: options.image,
    metricsPort: options.metricsPort,
    logPath: options.logPath,
    containers: targets,
    configMap: options.configMap,
    ...(options.credentialsSecret === undefined ? {} : { credentialsSecret: options.credentialsSecret }),
    reusedVolumes,
  };
  const metadata = pod.metadata ?? {};
  const newAnnotations = withStatus(annotations, status);
  const annotationBytes = annotationSize(newAnnotations);
  if (annotationBytes > ANNOTATIONS_LIMIT_BYTES) {
    return refuse(
      'annotations_too_large',
      `the pod's annotations would take ${annotationBytes} bytes with sre-quero's ${ANNOTATIONS.status} added, ` +
        `above the API server's limit of ${ANNOTATIONS_LIMIT_BYTES}: trim the pod's annotations ${OPT_OUT_HINT}`,
    );
  }
  if (pod.spec.hostNetwork === true) {
    warnings.push(
      `hostNetwork: the sidecar listens on port ${options.metricsPort} of the node itself; it fails to start if anything else on the node ` +
        `uses that port (another such pod, a promtail DaemonSet): set ${ANNOTATIONS.metricsPort} to a port free on every node`,
    );
  }
  return {
    kind: 'injected',
    reason: decision.reason,
    warnings,
    sidecar: {
      agent: options.agent,
      agentFrom: options.agentFrom,
      sidecarMode: status.sidecarMode,
      sidecarModeFrom: status.sidecarModeFrom,
      ...(status.sidecarModeReason === undefined ? {} : { sidecarModeReason: status.sidecarModeReason }),
    },
    pod: {
      ...pod,
      metadata: {
        ...metadata,
        labels: { ...metadata.labels, [INJECTED_LABEL]: 'true' },
        annotations: newAnnotations,
      },
      spec: { ...pod.spec, ...(initContainers === undefined ? {} : { initContainers }), containers, volumes: [...volumes, ...addedVolumes] },
    },
  };
}

/** The API server refuses objects whose annotations (keys and values, in bytes) pass 256 KiB. */
const ANNOTATIONS_LIMIT_BYTES = 256 * 1024;

function annotationSize(annotations: Readonly<Record<string, string>>): number {
  let bytes = 0;
  for (const key in annotations) bytes += Buffer.byteLength(key) + Buffer.byteLength(annotations[key] as string);
  return bytes;
}

/** Ports every node's own daemons hold (kubelet, kube-proxy): a hostNetwork sidecar could never bind them. */
const NODE_PORTS: ReadonlyMap<number, string> = new Map([
  [10248, 'the kubelet'],
  [10250, 'the kubelet'],
  [10249, 'kube-proxy'],
  [10256, 'kube-proxy'],
]);

function mountsLogFolder(container: Container, options: InjectionOptions): boolean {
  return (container.volumeMounts ?? []).some((m) => m.name === LAYOUT.logVolume && folderOf(m.mountPath) === options.logPath);
}

/** The `job` label: the annotation, else the app's name label, else the first app container. */
function jobOf(pod: PodTemplate, options: InjectionOptions, targets: readonly string[]): string {
  if (options.job !== undefined) return options.job;
  const labels = pod.metadata?.labels ?? {};
  for (const candidate of [labels['app.kubernetes.io/name'], labels.app]) {
    if (candidate !== undefined && parseJob(candidate).ok) return candidate;
  }
  return targets[0] as string;
}

/** Names a pod chose, for a message: each clipped, at most ten. */
function clipList(names: readonly string[]): string {
  const shown = names.slice(0, 10).map((name) => clip(name));
  return names.length > 10 ? `${shown.join(', ')} and ${names.length - 10} more` : shown.join(', ');
}

function describeVolume(volume: Volume): string {
  const source = Object.keys(volume).find((key) => key !== 'name');
  return source === undefined ? 'a volume without a source' : `a ${clip(source)} volume`;
}

/** Everything that would make the injected pod invalid or wrong; undefined if none. */
function findConflict(pod: PodTemplate, options: InjectionOptions, targets: readonly string[], ourVolumes: readonly Volume[]): Refusal | undefined {
  const { spec } = pod;
  // Names are unique across init and app containers.
  if ([...(spec.initContainers ?? []), ...spec.containers].some((c) => c.name === LAYOUT.sidecarName)) {
    return refuse(
      'container_conflict',
      `container "${LAYOUT.sidecarName}" already exists; sre-quero adds its own ${options.agent} sidecar: remove the hand-written one ${OPT_OUT_HINT}`,
    );
  }

  for (const volume of spec.volumes ?? []) {
    if (volume.name === LAYOUT.logVolume) {
      if (!isDeepStrictEqual(Object.keys(volume).sort(), ['emptyDir', 'name']) || typeof volume.emptyDir !== 'object') {
        return refuse(
          'volume_conflict',
          `volume "${LAYOUT.logVolume}" already exists as ${describeVolume(volume)}, not an emptyDir: rename that volume ${OPT_OUT_HINT}`,
        );
      }
      continue;
    }
    const ours = ourVolumes.find((v) => v.name === volume.name);
    if (ours !== undefined && !isDeepStrictEqual(ours, volume)) {
      return refuse(
        'volume_conflict',
        `volume "${clip(volume.name)}" already exists and differs from the one sre-quero adds: rename that volume ${OPT_OUT_HINT}`,
      );
    }
  }

  const nodePort = NODE_PORTS.get(options.metricsPort);
  if (spec.hostNetwork === true && nodePort !== undefined) {
    return refuse(
      'port_conflict',
      `hostNetwork: port ${options.metricsPort} belongs to ${nodePort} on every node, so the sidecar could not listen there: ` +
        `set ${ANNOTATIONS.metricsPort} to a free port for the sidecar`,
    );
  }
  for (const container of [...(spec.initContainers ?? []), ...spec.containers]) {
    for (const port of container.ports ?? []) {
      if (port.containerPort === options.metricsPort || (spec.hostNetwork === true && port.hostPort === options.metricsPort)) {
        return refuse(
          'port_conflict',
          `container "${clip(container.name)}" already uses port ${options.metricsPort}: ` +
            `set ${ANNOTATIONS.metricsPort} to a free port for the sidecar`,
        );
      }
      if (port.name === LAYOUT.portName) {
        return refuse(
          'port_conflict',
          `container "${clip(container.name)}" already has a port named "${LAYOUT.portName}", which the sidecar's metrics port needs: rename that port`,
        );
      }
    }
  }

  for (const container of [...(spec.initContainers ?? []), ...spec.containers]) {
    if (!targets.includes(container.name)) continue;
    for (const mount of container.volumeMounts ?? []) {
      const mountPath = folderOf(mount.mountPath);
      if (mountPath === options.logPath && mount.name !== LAYOUT.logVolume) {
        return refuse(
          'mount_conflict',
          `container "${clip(container.name)}" already mounts volume "${clip(mount.name)}" at ${options.logPath}: ` +
            `set ${ANNOTATIONS.logPath} to another folder, or leave the container out with ${ANNOTATIONS.containers}`,
        );
      }
      if (mount.name === LAYOUT.logVolume && mountPath !== options.logPath) {
        return refuse(
          'mount_conflict',
          `container "${clip(container.name)}" mounts "${LAYOUT.logVolume}" at ${clip(mountPath)}, not at the log folder ${options.logPath}: ` +
            `set ${ANNOTATIONS.logPath}: "${clip(mountPath)}"`,
        );
      }
    }
  }
  return undefined;
}
