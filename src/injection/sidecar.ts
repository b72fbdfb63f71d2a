import { AGENT_PROFILES } from './agents.js';
import { FrozenMemo } from './frozen-memo.js';
import { LAYOUT } from './layout.js';
import type { InjectionOptions } from './overrides.js';
import type { Container, Volume, VolumeMount } from './pod.js';

// Env names the central template reads: promtail.yaml expands them
// (-config.expand-env=true), config.alloy reads them with sys.env().
export const SIDECAR_ENV = Object.freeze({
  podName: 'POD_NAME',
  podNamespace: 'POD_NAMESPACE',
  nodeName: 'NODE_NAME',
  job: 'LOG_JOB',
  files: 'LOG_FILES',
  containers: 'APP_CONTAINERS',
});

const fieldEnv = (name: string, fieldPath: string) => ({
  name,
  valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath } },
});

// One frozen value per distinct input (see FrozenMemo); the bound only stops
// a stream of distinct jobs or container lists from growing the caches.
const MEMO_LIMIT = 512;
const mounts = new FrozenMemo<VolumeMount>(MEMO_LIMIT);
const volumeLists = new FrozenMemo<Volume[]>(MEMO_LIMIT);
const containers = new FrozenMemo<Container>(MEMO_LIMIT);
const NONE = '\u0001';

export function logMount(options: InjectionOptions): VolumeMount {
  return mounts.get(options.logPath, () => ({ name: LAYOUT.logVolume, mountPath: options.logPath }));
}

/** The volumes the layout needs, keyed by the name they are added under. */
export function sidecarVolumes(options: InjectionOptions): readonly Volume[] {
  return volumeLists.get(`${options.agent}\u0000${options.configMap}\u0000${options.credentialsSecret ?? NONE}`, () => makeVolumes(options));
}

/** The sidecar container; shared, frozen, by everything it is made of. */
export function sidecarContainer(options: InjectionOptions, job: string, appContainers: readonly string[], drainSeconds: number | undefined): Container {
  const { agent, image, sidecarMode, metricsPort, logPath, logGlob, credentialsSecret, resources } = options;
  const key = [agent, image, sidecarMode, metricsPort, logPath, logGlob, credentialsSecret ?? NONE, resources.requests.cpu, resources.requests.memory, resources.limits.cpu, resources.limits.memory, drainSeconds ?? NONE, job, appContainers.join(',')].join('\u0000');
  return containers.get(key, () => makeContainer(options, job, appContainers, drainSeconds));
}

function makeVolumes(options: InjectionOptions): Volume[] {
  return [
    { name: LAYOUT.logVolume, emptyDir: {} },
    { name: LAYOUT.positionsVolume, emptyDir: {} },
    // The same ConfigMap for every agent: each reads its own key (agents.ts).
    { name: LAYOUT.configVolume, configMap: { name: options.configMap } },
    ...AGENT_PROFILES[options.agent].scratch.map(({ volume }) => ({ name: volume, emptyDir: {} })),
    // optional: a missing Secret must not keep the app from starting; the
    // client's requests then fail (and retry) until it exists.
    ...(options.credentialsSecret === undefined ? [] : [{ name: LAYOUT.credentialsVolume, secret: { secretName: options.credentialsSecret, optional: true } }]),
  ];
}

function makeContainer(options: InjectionOptions, job: string, appContainers: readonly string[], drainSeconds: number | undefined): Container {
  const port = options.metricsPort;
  const agent = AGENT_PROFILES[options.agent];
  return {
    name: LAYOUT.sidecarName,
    image: options.image,
    imagePullPolicy: 'IfNotPresent',
    // An init container that keeps running: Kubernetes' native sidecar.
    ...(options.sidecarMode === 'native' ? { restartPolicy: 'Always' } : {}),
    args: agent.args(port),
    env: [
      fieldEnv(SIDECAR_ENV.podName, 'metadata.name'),
      fieldEnv(SIDECAR_ENV.podNamespace, 'metadata.namespace'),
      fieldEnv(SIDECAR_ENV.nodeName, 'spec.nodeName'),
      { name: SIDECAR_ENV.job, value: job },
      { name: SIDECAR_ENV.files, value: `${options.logPath}/${options.logGlob}` },
      { name: SIDECAR_ENV.containers, value: appContainers.join(',') },
    ],
    ports: [{ name: LAYOUT.portName, containerPort: port, protocol: 'TCP' }],
    // No readiness probe: a classic sidecar's readiness is the pod's (a
    // native one's counts too, since Kubernetes 1.29), and a
    // log shipper must never take the app out of its Service. promtail's
    // /ready answers 500 until it tails a file, which kept quiet apps
    // NotReady for good (seen on a real node); the same holds for Alloy's
    // /-/ready (its config loaded). A startup probe on the port
    // only: the pod turns Ready once the agent listens (scrapes find it), and
    // it holds whatever the config says (a user's own ConfigMap included).
    // A native sidecar's startup probe also holds back the app containers
    // until the agent listens, so no line is written before it tails.
    startupProbe: {
      tcpSocket: { port: LAYOUT.portName },
      periodSeconds: 1,
      failureThreshold: 60,
    },
    // Keeps shipping the app's last lines for a moment once told to stop (shutdown.ts).
    ...(drainSeconds === undefined ? {} : { lifecycle: { preStop: { sleep: { seconds: drainSeconds } } } }),
    resources: {
      requests: { ...options.resources.requests },
      limits: { ...options.resources.limits },
    },
    securityContext: {
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      runAsUser: LAYOUT.runAsUser,
      runAsGroup: LAYOUT.runAsUser,
      // Pod Security `restricted` asks for it on every container.
      seccompProfile: { type: 'RuntimeDefault' },
    },
    volumeMounts: [
      { name: LAYOUT.logVolume, mountPath: options.logPath, readOnly: true },
      { name: LAYOUT.configVolume, mountPath: LAYOUT.configDir, readOnly: true },
      { name: LAYOUT.positionsVolume, mountPath: LAYOUT.positionsDir },
      ...agent.scratch.map(({ volume, mountPath }) => ({ name: volume, mountPath })),
      ...(options.credentialsSecret === undefined ? [] : [{ name: LAYOUT.credentialsVolume, mountPath: LAYOUT.credentialsDir, readOnly: true }]),
    ],
  };
}
