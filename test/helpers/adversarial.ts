import jsonPatch from 'fast-json-patch';
import { posix } from 'node:path';
import type { AnswerMemo } from '../../src/admission/answer-memo.js';
import { answerReview } from '../../src/admission/handle.js';
import { readReview } from '../../src/admission/review.js';
import { InvalidReviewError } from '../../src/errors.js';
import { DEFAULT_SETTINGS, injectPod, MODES, type InjectorSettings, type Mode, type NodeFacts, type PodTemplate } from '../../src/injection/index.js';
import type { Json } from './reviews.js';

// Adversarial admission reviews from a seed, and what must hold for every
// answer: no exception, and an applied patch never makes the pod invalid
// (or non-compliant with Pod Security `restricted` when it was). Used by
// test/unit/adversarial.test.ts (a fixed sample) and bench/adversarial.ts
// (10,000+ cases).

/** mulberry32: small, fast, good enough to spread cases; the same seed gives the same cases. */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const HOSTILE = ['', ' ', 'true ', 'TRUE', 'yes', '\u0000', 'a\nb', '\u202e', 'é', '../../etc', '/etc', '/', '//var/log/app', '/var/log/app/.', '/var/log/x/../app', 'x'.repeat(300), '-1', '0', '65536', '9080', '1e3', 'promtail', 'Bad_Name', '${POD_NAME}', '{"a":1}', 'null'];
const ANNOTATION_VALUES: Record<string, string[]> = {
  'logging.sre-quero/sidecar': ['true', 'true', 'true', 'false'],
  'logging.sre-quero/sidecar-mode': ['classic', 'native', 'auto'],
  'logging.sre-quero/agent': ['alloy', 'alloy', 'promtail', 'Alloy', 'vector'],
  'logging.sre-quero/log-path': ['/var/log/app', '/data/logs', '/var/log/app/', '/srv/x'],
  'logging.sre-quero/log-glob': ['*.log', '**/*.json'],
  'logging.sre-quero/containers': ['app', 'app,side', 'init', 'app,init', 'ghost'],
  'logging.sre-quero/job': ['billing'],
  'logging.sre-quero/image': ['grafana/promtail:3.6.11', 'grafana/promtail:latest', 'evil/promtail:1', 'grafana/alloy:v1.19.2', 'docker.io/grafana/alloy:v1.19.1'],
  'logging.sre-quero/metrics-port': ['9180', '9080', '8080', '10250'],
  'logging.sre-quero/config-map': ['team-promtail'],
  'logging.sre-quero/credentials-secret': ['loki-credentials'],
  'logging.sre-quero/cpu-request': ['10m', '5'],
  'logging.sre-quero/memory-limit': ['256Mi', '1Ki'],
  'logging.sre-quero/status': ['{}', '{"sidecar":"promtail"}'],
  'logging.sre-quero/unknown-key': ['x'],
};
const CONTAINER_NAMES = ['app', 'side', 'init', 'promtail', 'app', 'x'.repeat(70), 'tab\tname'];
const VOLUME_NAMES = ['data', 'shared-logs', 'promtail-config', 'promtail-positions', 'promtail-credentials', 'promtail-tmp', 'cache'];
const MOUNT_PATHS = ['/data', '/var/log/app', '/var/log/app/', '//var/log/app', '/var/log/app/.', '/var/log/x/../app', '/etc/promtail', '/run/promtail', '/tmp', '/cache'];
const VOLUME_SOURCES: Json[] = [{ emptyDir: {} }, { emptyDir: { medium: 'Memory' } }, { configMap: { name: 'promtail-sidecar-config' } }, { hostPath: { path: '/var/log' } }, { secret: { secretName: 's' } }, {}];

export interface Case {
  review: Json;
  mode: Mode;
  settings: InjectorSettings;
  nodes: NodeFacts | undefined;
  /** The input pod met Pod Security `restricted` (as far as checked here). */
  restricted: boolean;
}

export function adversarialCase(seed: number): Case {
  const rnd = random(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rnd() * items.length)] as T;
  const chance = (p: number) => rnd() < p;
  const restricted = chance(0.3);
  const secure = () => ({ allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' }, runAsNonRoot: true });

  const volumes: Json[] = [];
  for (let i = Math.floor(rnd() * 4); i > 0; i--) {
    const source = restricted ? pick([{ emptyDir: {} }, { configMap: { name: 'c' } }]) : pick(VOLUME_SOURCES);
    volumes.push({ name: pick(VOLUME_NAMES), ...structuredClone(source) });
  }
  const container = (name: string): Json => {
    const c: Json = { name, image: 'example/app:1' };
    if (chance(0.6)) c.ports = Array.from({ length: 1 + Math.floor(rnd() * 2) }, () => ({ containerPort: pick([80, 8080, 9080, 9180]), ...(chance(0.3) ? { name: pick(['http', 'promtail-http', 'metrics']) } : {}), ...(chance(0.1) ? { hostPort: pick([9080, 8080]) } : {}), protocol: 'TCP' }));
    if (volumes.length > 0 && chance(0.5)) c.volumeMounts = [{ name: pick(volumes).name, mountPath: pick(MOUNT_PATHS) }];
    if (restricted) c.securityContext = secure();
    return c;
  };
  const containers = Array.from({ length: 1 + Math.floor(rnd() * 3) }, () => container(pick(CONTAINER_NAMES)));
  const initContainers = chance(0.3) ? [container(pick(CONTAINER_NAMES))] : undefined;
  if (initContainers && chance(0.3)) (initContainers[0] as Json).restartPolicy = 'Always';

  const annotations: Record<string, string> = {};
  for (const [key, values] of Object.entries(ANNOTATION_VALUES)) {
    // Mostly valid values, so that injection and its collisions are reached; a hostile one now and then.
    if (key === 'logging.sre-quero/sidecar' ? chance(0.85) : chance(0.12)) annotations[key] = chance(0.2) ? pick(HOSTILE) : pick(values);
  }
  if (chance(0.02)) annotations['example.com/huge'] = 'x'.repeat(262_000);

  const spec: Json = { containers, ...(initContainers ? { initContainers } : {}), ...(volumes.length > 0 ? { volumes } : {}) };
  if (chance(0.2)) spec.restartPolicy = pick(['Always', 'Never', 'OnFailure']);
  if (chance(0.1)) spec.hostNetwork = true;
  if (chance(0.05)) spec.os = { name: pick(['windows', 'linux']) };
  if (chance(0.1)) spec.nodeName = pick(['new-node', 'old-node', 'unknown']);
  if (restricted) spec.securityContext = { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } };

  const settings: InjectorSettings = chance(0.3)
    ? {
        ...DEFAULT_SETTINGS,
        sidecarMode: pick(['classic', 'native', 'auto'] as const),
        ...(chance(0.3) ? { credentialsSecret: 'loki' } : {}),
        ...pick([{}, { agent: 'alloy' as const }, { agent: 'alloy' as const, allowedAgents: ['alloy' as const] }]),
      }
    : DEFAULT_SETTINGS;
  const nodes = chance(0.5) ? { kubeletVersions: new Map([['new-node', 'v1.37.2'], ...(chance(0.5) ? [['old-node', 'v1.28.1'] as [string, string]] : [])]) } : undefined;
  const object = { apiVersion: 'v1', kind: 'Pod', metadata: { name: `case-${seed}`, namespace: 'fuzz', ...(chance(0.95) ? { annotations } : {}) }, spec };
  const review = { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: `uid-${seed}`, kind: { group: '', version: 'v1', kind: 'Pod' }, resource: { group: '', version: 'v1', resource: 'pods' }, namespace: 'fuzz', operation: 'CREATE', object } };
  return { review, mode: pick(MODES), settings, nodes, restricted: restricted && !volumes.some((v) => !('emptyDir' in v || 'configMap' in v)) };
}

/** What the API server would refuse in the pod, or a `restricted` rule it breaks; empty when fine. */
export function podProblems(pod: Json, checkRestricted: boolean): string[] {
  const problems: string[] = [];
  const spec = pod.spec as Json;
  const all: Json[] = [...(spec.initContainers ?? []), ...spec.containers];
  const duplicates = (names: string[]) => [...new Set(names.filter((name, i) => names.indexOf(name) !== i))];
  const names = all.map((c) => c.name);
  for (const name of duplicates(names)) problems.push(`duplicate container name ${name}`);
  const volumeNames = (spec.volumes ?? []).map((v: Json) => v.name);
  for (const name of duplicates(volumeNames)) problems.push(`duplicate volume name ${name}`);
  const hostPorts: number[] = [];
  for (const container of all) {
    const paths = new Set<string>();
    for (const mount of container.volumeMounts ?? []) {
      if (!volumeNames.includes(mount.name)) problems.push(`${container.name}: mount of missing volume ${mount.name}`);
      const path = posix.normalize(mount.mountPath).replace(/(.)\/$/, '$1');
      if (paths.has(path)) problems.push(`${container.name}: two mounts on ${path}`);
      paths.add(path);
    }
    const portNames = (container.ports ?? []).filter((p: Json) => p.name).map((p: Json) => p.name);
    if (new Set(portNames).size !== portNames.length) problems.push(`${container.name}: duplicate port names`);
    for (const port of container.ports ?? []) {
      const host = spec.hostNetwork ? port.hostPort ?? port.containerPort : port.hostPort;
      if (host && hostPorts.includes(host)) problems.push(`host port ${host} used twice`);
      if (host) hostPorts.push(host);
    }
  }
  // The injected one (promtail's flags or alloy's run), not a hand-written container of that name.
  const sidecar = all.find((c) => c.name === 'promtail' && (c.args ?? []).some((a: string) => a.startsWith('-config.file=') || a === 'run'));
  if (sidecar) {
    const port = sidecar.ports[0];
    const others = all.filter((c) => c !== sidecar).flatMap((c) => c.ports ?? []);
    if (others.some((p: Json) => p.containerPort === port.containerPort || p.name === port.name)) problems.push(`the sidecar's port ${port.containerPort}/${port.name} is used by another container`);
  }
  if (checkRestricted) {
    const podRunAsNonRoot = spec.securityContext?.runAsNonRoot === true;
    const podSeccomp = spec.securityContext?.seccompProfile?.type;
    for (const c of all) {
      const sc = c.securityContext ?? {};
      if (sc.allowPrivilegeEscalation !== false) problems.push(`restricted: ${c.name} may escalate`);
      if (!(sc.capabilities?.drop ?? []).includes('ALL')) problems.push(`restricted: ${c.name} keeps capabilities`);
      if (!(sc.runAsNonRoot === true || (podRunAsNonRoot && sc.runAsNonRoot !== false))) problems.push(`restricted: ${c.name} may run as root`);
      const seccomp = sc.seccompProfile?.type ?? podSeccomp;
      if (seccomp !== 'RuntimeDefault' && seccomp !== 'Localhost') problems.push(`restricted: ${c.name} without a seccomp profile`);
    }
    for (const v of spec.volumes ?? []) if (!['emptyDir', 'configMap', 'secret', 'projected', 'persistentVolumeClaim', 'downwardAPI'].some((k) => k in v)) problems.push(`restricted: volume ${v.name} of a forbidden type`);
  }
  return problems;
}

export type Outcome = 'injected' | 'skipped' | 'refused' | 'ignored' | 'allowed' | 'invalid_review';

/**
 * Answers one case; returns its outcome and what went wrong (nothing, for a
 * good answer). With `memo`, the case is also answered through it twice (as
 * the server's routes do: its first review, then a repeat), from its JSON
 * text, and both answers must be the same as without it.
 */
export function checkCase(testCase: Case, memo?: AnswerMemo): { outcome: Outcome; problems: string[] } {
  const { review, mode, settings, nodes, restricted } = testCase;
  let answer;
  try {
    // As the route does: decode (a malformed review is a 400), then answer.
    answer = answerReview(readReview(structuredClone(review)), settings, mode, nodes);
  } catch (error) {
    if (error instanceof InvalidReviewError) return { outcome: 'invalid_review', problems: [] };
    return { outcome: 'refused', problems: [`threw: ${(error as Error).stack}`] };
  }
  const problems: string[] = [];
  if (memo !== undefined) {
    const text = JSON.stringify(review);
    for (const which of ['first', 'repeat']) {
      const memoized = answerReview(readReview(JSON.parse(text)), settings, mode, nodes, undefined, memo);
      if (JSON.stringify(memoized) !== JSON.stringify(answer)) problems.push(`the answer memo's ${which} answer differs: ${memoized.answer.slice(0, 200)}`);
    }
  }
  const response = JSON.parse(answer.answer).response as Json;
  if (answer.verdict === 'refused') {
    const message = String(response.status?.message ?? '');
    if (response.allowed !== false) problems.push('refused but allowed');
    if (message.length === 0 || message.length > 2000) problems.push(`message length ${message.length}`);
    if (/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u.test(message)) problems.push(`control character in message: ${JSON.stringify(message.slice(0, 200))}`);
    if (![400, 409].includes(response.status?.code)) problems.push(`refusal code ${response.status?.code}`);
    return { outcome: 'refused', problems };
  }
  if (response.allowed !== true) problems.push('not allowed, not refused');
  for (const warning of response.warnings ?? []) {
    if (/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u.test(warning) || warning.length > 400) problems.push(`warning not clipped: ${JSON.stringify(warning.slice(0, 200))}`);
  }
  if (response.patch !== undefined) {
    const input = review.request.object as Json;
    const patchJson = Buffer.from(response.patch, 'base64').toString('utf8');
    // The hot path's own patch writer must say exactly what a generic diff says.
    const injected = injectPod(structuredClone(input) as PodTemplate, settings, mode, nodes);
    if (injected.kind !== 'injected') problems.push(`patched, but injectPod says ${injected.kind}`);
    else if (patchJson !== JSON.stringify(jsonPatch.compare(input, injected.pod))) problems.push('the patch differs from fast-json-patch compare');
    const patched = jsonPatch.applyPatch(structuredClone(input), JSON.parse(patchJson), true, false).newDocument as Json;
    const before = podProblems(input, false);
    const after = podProblems(patched, restricted && podProblems(input, true).length === 0);
    // Our patch may not add a problem the input did not have.
    for (const problem of after) if (!before.includes(problem)) problems.push(`the patch made it: ${problem}`);
    let bytes = 0;
    for (const [k, v] of Object.entries(patched.metadata.annotations ?? {})) bytes += Buffer.byteLength(k) + Buffer.byteLength(v as string);
    if (bytes > 262_144) problems.push(`annotations ${bytes} bytes`);
  }
  return { outcome: answer.verdict, problems };
}
