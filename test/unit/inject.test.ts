import jsonPatch from 'fast-json-patch';
import t from 'tap';
import {
  ANNOTATIONS,
  DEFAULT_SETTINGS,
  diffToPatch,
  isInjected,
  injectPod,
  MODES,
  podShapeProblem,
  type InjectionResult,
  type InjectionStatus,
  type InjectorSettings,
  type Mode,
  type NodeFacts,
  type PodTemplate,
} from '../../src/injection/index.js';
import { deepFreeze } from '../../src/injection/frozen-memo.js';
import type { Container, Volume } from '../../src/injection/pod.js';
import { DRAIN_SECONDS } from '../../src/injection/shutdown.js';

/** The type of the `t` a subtest callback receives. */
type Test = Parameters<Extract<Parameters<typeof t.test>[0], (...args: never[]) => unknown>>[0];
type Injected = Extract<InjectionResult, { kind: 'injected' }>;

const A = (name: string) => `logging.sre-quero/${name}`;
const SIDECAR = A('sidecar');
const STATUS = A('status');
const INJECTED_LABEL = A('injected');
const OPT_OUT_HINT = 'or opt the pod out with logging.sre-quero/sidecar: "false"';

interface PodOptions {
  annotations?: Record<string, string>;
  restartPolicy?: string;
  /** Merged into the spec (hostNetwork, os, …). */
  spec?: Record<string, unknown>;
  labels?: Record<string, string>;
  containers?: Container[];
  initContainers?: Container[];
  volumes?: Volume[];
}

/** A frozen pod opting in, with one app container `web` and a service-account volume. */
function makePod(options: PodOptions = {}): PodTemplate {
  return deepFreeze({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: 'web-0',
      namespace: 'shop',
      labels: options.labels ?? { app: 'web' },
      annotations: { [SIDECAR]: 'true', ...options.annotations },
    },
    spec: {
      restartPolicy: options.restartPolicy ?? 'Always',
      ...(options.initContainers === undefined ? {} : { initContainers: options.initContainers }),
      containers: options.containers ?? [webContainer()],
      volumes: options.volumes ?? [{ name: 'kube-api', projected: { sources: [{ serviceAccountToken: { path: 'token' } }] } }],
      ...options.spec,
    },
  });
}

const webContainer = (extra: Partial<Container> = {}): Container => ({
  name: 'web',
  image: 'nginx:1.27',
  ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }],
  volumeMounts: [{ name: 'kube-api', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true }],
  ...extra,
});
const workerContainer = (extra: Partial<Container> = {}): Container => ({ name: 'worker', image: 'busybox:1.36', ...extra });

interface SidecarShape {
  image: string;
  port: number;
  logPath: string;
  glob: string;
  job: string;
  apps: string;
  requests: { cpu: string; memory: string };
  limits: { cpu: string; memory: string };
}

/** The sidecar the recipe expects, written out in full. */
function expectedSidecar(shape: Partial<SidecarShape> = {}): Container {
  const s: SidecarShape = {
    image: 'grafana/promtail:3.6.11',
    port: 9080,
    logPath: '/var/log/app',
    glob: '*.log',
    job: 'web',
    apps: 'web',
    requests: { cpu: '50m', memory: '64Mi' },
    limits: { cpu: '200m', memory: '128Mi' },
    ...shape,
  };
  return {
    name: 'promtail',
    image: s.image,
    imagePullPolicy: 'IfNotPresent',
    args: [
      '-config.file=/etc/promtail/promtail.yaml',
      '-config.expand-env=true',
      `-server.http-listen-port=${s.port}`,
      '-server.grpc-listen-address=127.0.0.1',
      '-server.enable-runtime-reload',
      '-target.sync-period=1s',
      '-positions.file=/run/promtail/positions.yaml',
    ],
    env: [
      { name: 'POD_NAME', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } } },
      { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } } },
      { name: 'NODE_NAME', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'spec.nodeName' } } },
      { name: 'LOG_JOB', value: s.job },
      { name: 'LOG_FILES', value: `${s.logPath}/${s.glob}` },
      { name: 'APP_CONTAINERS', value: s.apps },
    ],
    ports: [{ name: 'promtail-http', containerPort: s.port, protocol: 'TCP' }],
    startupProbe: { tcpSocket: { port: 'promtail-http' }, periodSeconds: 1, failureThreshold: 60 },
    resources: { requests: s.requests, limits: s.limits },
    securityContext: {
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      runAsUser: 10001,
      runAsGroup: 10001,
      seccompProfile: { type: 'RuntimeDefault' },
    },
    volumeMounts: [
      { name: 'shared-logs', mountPath: s.logPath, readOnly: true },
      { name: 'promtail-config', mountPath: '/etc/promtail', readOnly: true },
      { name: 'promtail-positions', mountPath: '/run/promtail' },
    ],
  };
}

const layoutVolumes = (configMap = 'promtail-sidecar-config'): Volume[] => [
  { name: 'shared-logs', emptyDir: {} },
  { name: 'promtail-positions', emptyDir: {} },
  { name: 'promtail-config', configMap: { name: configMap } },
];

function expectInjected(t: Test, result: InjectionResult): Injected {
  if (result.kind !== 'injected') {
    t.fail(`expected an injection, got ${JSON.stringify(result)}`);
    throw new Error('not injected');
  }
  return result;
}

const inject = (pod: PodTemplate, mode: Mode = 'annotated', settings: InjectorSettings = DEFAULT_SETTINGS) =>
  injectPod(pod, settings, mode);

/** Injects and returns the result, failing the test when the pod was not injected. */
const injected = (t: Test, pod: PodTemplate, mode?: Mode, settings?: InjectorSettings) => expectInjected(t, inject(pod, mode, settings));

const containersOf = (result: Injected) => result.pod.spec.containers;
const sidecarOf = (result: Injected) => containersOf(result).find((c) => c.name === 'promtail');
const containerOf = (result: Injected, name: string) => containersOf(result).find((c) => c.name === name);
const statusOf = (result: Injected): InjectionStatus => JSON.parse(result.pod.metadata?.annotations?.[STATUS] ?? 'null');

/** Asserts a refusal with exactly `reason` whose message contains every fragment. */
function expectRefused(t: Test, result: InjectionResult, reason: string, ...fragments: string[]): void {
  t.equal(result.kind, 'refused', 'refused');
  t.equal('reason' in result ? result.reason : undefined, reason, `reason ${reason}`);
  const message = result.kind === 'refused' ? result.message : '';
  for (const fragment of fragments) t.ok(message.includes(fragment), `message names ${JSON.stringify(fragment)}`, { message });
}

const applyPatch = (input: PodTemplate, output: PodTemplate) =>
  jsonPatch.applyPatch(structuredClone(input), diffToPatch(input, output), true, false).newDocument;

t.test('default layout on a one-container pod', async (t) => {
  const input = makePod();
  const before = structuredClone(input);
  const result = injected(t, input);

  t.equal(result.reason, 'annotation_opt_in');
  t.strictSame(result.warnings, []);
  t.strictSame(input, before, 'the input is not mutated');

  const { [STATUS]: statusText, ...annotations } = result.pod.metadata?.annotations ?? {};
  t.type(statusText, 'string');
  t.strictSame(statusOf(result), {
    sidecar: 'promtail',
    agent: 'promtail',
    sidecarMode: 'classic',
    sidecarModeFrom: 'settings',
    image: 'grafana/promtail:3.6.11',
    metricsPort: 9080,
    logPath: '/var/log/app',
    containers: ['web'],
    configMap: 'promtail-sidecar-config',
    reusedVolumes: [],
  });

  t.strictSame(
    { ...result.pod, metadata: { ...result.pod.metadata, annotations } },
    {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: 'web-0',
        namespace: 'shop',
        labels: { app: 'web', [INJECTED_LABEL]: 'true' },
        annotations: { [SIDECAR]: 'true' },
      },
      spec: {
        restartPolicy: 'Always',
        containers: [
          webContainer({
            volumeMounts: [
              { name: 'kube-api', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true },
              { name: 'shared-logs', mountPath: '/var/log/app' },
            ],
          }),
          expectedSidecar(),
        ],
        volumes: [{ name: 'kube-api', projected: { sources: [{ serviceAccountToken: { path: 'token' } }] } }, ...layoutVolumes()],
      },
    },
    'the whole pod, field by field',
  );
});

t.test('modes: reason and warnings of an injection', async (t) => {
  t.equal(injected(t, makePod(), 'enabled').reason, 'namespace_enabled');
  const enforced = injected(t, makePod({ annotations: { [SIDECAR]: 'false' } }), 'enforced');
  t.equal(enforced.reason, 'namespace_enforced');
  t.strictSame(enforced.warnings, ['logging.sre-quero/sidecar: "false" is not honoured: this namespace enforces the logging sidecar']);
  t.strictSame(inject(makePod({ annotations: { [SIDECAR]: 'false' } }), 'enabled'), { kind: 'skipped', reason: 'opted_out' });
  t.strictSame(inject(makePod({ annotations: { [SIDECAR]: 'yes' } }), 'enforced'), {
    kind: 'refused',
    reason: 'invalid_annotation',
    message: 'annotation logging.sre-quero/sidecar: "yes" is not valid; expected "true" or "false"',
  });
  const noOptIn = deepFreeze({ metadata: { name: 'x' }, spec: { containers: [{ name: 'web' }] } });
  t.strictSame(inject(noOptIn, 'annotated'), { kind: 'skipped', reason: 'not_requested' });
});

t.test('a pod without metadata gets labels and annotations', async (t) => {
  const input = deepFreeze({ spec: { containers: [{ name: 'app' }] } });
  const result = injected(t, input, 'enabled');
  t.strictSame(result.pod.metadata?.labels, { [INJECTED_LABEL]: 'true' });
  t.strictSame(Object.keys(result.pod.metadata?.annotations ?? {}), [STATUS]);
  t.equal(sidecarOf(result)?.env instanceof Array, true);
  t.strictSame(
    (sidecarOf(result)?.env as { name: string; value?: string }[]).find((e) => e.name === 'LOG_JOB'),
    { name: 'LOG_JOB', value: 'app' },
    'job falls back to the container name',
  );
  const ops = diffToPatch(input, result.pod);
  t.strictSame(
    ops.map((op) => `${op.op} ${op.path}`).sort(),
    ['add /metadata', 'add /spec/containers/0/volumeMounts', 'add /spec/containers/1', 'add /spec/volumes'],
    'whole maps and lists are added: no add without a parent',
  );
  t.strictSame(applyPatch(input, result.pod), result.pod);
});

t.test('idempotency and the JSON patch', async (t) => {
  for (const mode of MODES) {
    const input = makePod();
    const result = injected(t, input, mode);
    t.strictSame(inject(deepFreeze(result.pod), mode), { kind: 'skipped', reason: 'already_injected' }, `${mode}: second call skips`);
    t.strictSame(applyPatch(input, result.pod), result.pod, `${mode}: patch(input) == output`);
    t.strictSame(diffToPatch(result.pod, result.pod), [], `${mode}: no diff on the output`);
    t.strictSame(diffToPatch(result.pod, structuredClone(result.pod)), [], `${mode}: no diff on a copy of the output`);
  }

  t.test('patch on a pod with labels but no annotations adds whole maps, escaping the key', async (t) => {
    const input = deepFreeze({ metadata: { name: 'p', labels: { app: 'web' } }, spec: { containers: [{ name: 'web' }] } });
    const result = injected(t, input, 'enabled');
    const ops = diffToPatch(input, result.pod);
    const metadataOps = ops.filter((op) => op.path.startsWith('/metadata'));
    t.strictSame(
      metadataOps.map((op) => `${op.op} ${op.path}`).sort(),
      ['add /metadata/annotations', 'add /metadata/labels/logging.sre-quero~1injected'],
    );
    t.strictSame(applyPatch(input, result.pod), result.pod);
  });
});

t.test('unchanged parts are shared, changed parts are copies', async (t) => {
  const input = makePod({ containers: [webContainer(), workerContainer()], annotations: { [A('containers')]: 'web' } });
  const result = injected(t, input);
  t.equal(containerOf(result, 'worker'), input.spec.containers[1], 'untouched container is the same object');
  t.not(containerOf(result, 'web'), input.spec.containers[0], 'mounted container is a copy');
  t.equal(result.pod.spec.volumes?.[0], input.spec.volumes?.[0]);
});

t.test('annotation overrides', async (t) => {
  t.test('log-path: app mount, sidecar mount, LOG_FILES and status (trailing slash dropped)', async (t) => {
    const result = injected(t, makePod({ annotations: { [A('log-path')]: '/data/logs/' } }));
    t.strictSame(containerOf(result, 'web')?.volumeMounts?.at(-1), { name: 'shared-logs', mountPath: '/data/logs' });
    t.strictSame(sidecarOf(result), expectedSidecar({ logPath: '/data/logs' }));
    t.equal(statusOf(result).logPath, '/data/logs');
    t.strictSame(result.pod.spec.volumes?.slice(1), layoutVolumes());
  });

  t.test('log-glob: only LOG_FILES changes', async (t) => {
    const result = injected(t, makePod({ annotations: { [A('log-glob')]: '**/*.json' } }));
    t.strictSame(sidecarOf(result), expectedSidecar({ glob: '**/*.json' }));
    t.strictSame(statusOf(result).logPath, '/var/log/app');
  });

  t.test('containers: all app containers by default', async (t) => {
    const result = injected(t, makePod({ containers: [webContainer(), workerContainer()] }));
    t.strictSame(containerOf(result, 'worker')?.volumeMounts, [{ name: 'shared-logs', mountPath: '/var/log/app' }]);
    t.strictSame(containerOf(result, 'web')?.volumeMounts?.at(-1), { name: 'shared-logs', mountPath: '/var/log/app' });
    t.strictSame(sidecarOf(result), expectedSidecar({ apps: 'web,worker' }));
    t.strictSame(statusOf(result).containers, ['web', 'worker']);
  });

  t.test('containers: a subset gets the mount and APP_CONTAINERS', async (t) => {
    const result = injected(
      t,
      makePod({ containers: [webContainer(), workerContainer(), { name: 'cache', image: 'redis:7' }], annotations: { [A('containers')]: 'worker, cache' } }),
    );
    t.strictSame(containerOf(result, 'web'), webContainer(), 'web is untouched');
    t.strictSame(containerOf(result, 'worker')?.volumeMounts, [{ name: 'shared-logs', mountPath: '/var/log/app' }]);
    t.strictSame(containerOf(result, 'cache')?.volumeMounts, [{ name: 'shared-logs', mountPath: '/var/log/app' }]);
    t.strictSame(sidecarOf(result), expectedSidecar({ apps: 'worker,cache' }));
    t.strictSame(statusOf(result).containers, ['worker', 'cache']);
    t.strictSame(
      containersOf(result).map((c) => c.name),
      ['web', 'worker', 'cache', 'promtail'],
      'the sidecar is appended last',
    );
  });

  t.test('job', async (t) => {
    const result = injected(t, makePod({ annotations: { [A('job')]: 'shop-front' } }));
    t.strictSame(sidecarOf(result), expectedSidecar({ job: 'shop-front' }));
  });

  t.test('image: sidecar image and status', async (t) => {
    const result = injected(t, makePod({ annotations: { [A('image')]: 'docker.io/grafana/promtail:3.5.0' } }));
    t.strictSame(sidecarOf(result), expectedSidecar({ image: 'docker.io/grafana/promtail:3.5.0' }));
    t.equal(statusOf(result).image, 'docker.io/grafana/promtail:3.5.0');
  });

  t.test('metrics-port: containerPort, listen flag and status', async (t) => {
    const result = injected(t, makePod({ annotations: { [A('metrics-port')]: '9100' } }));
    t.strictSame(sidecarOf(result), expectedSidecar({ port: 9100 }));
    t.equal(statusOf(result).metricsPort, 9100);
  });

  t.test('config-map: configMap volume and status', async (t) => {
    const result = injected(t, makePod({ annotations: { [A('config-map')]: 'team-promtail' } }));
    t.strictSame(result.pod.spec.volumes?.slice(1), layoutVolumes('team-promtail'));
    t.strictSame(sidecarOf(result), expectedSidecar());
    t.equal(statusOf(result).configMap, 'team-promtail');
  });

  t.test('credentials-secret: an optional Secret volume, mounted read-only in the sidecar only, named in the status', async (t) => {
    const result = injected(t, makePod({ annotations: { [A('credentials-secret')]: 'team-loki' } }));
    t.strictSame(result.pod.spec.volumes?.slice(1), [
      ...layoutVolumes(),
      { name: 'promtail-credentials', secret: { secretName: 'team-loki', optional: true } },
    ]);
    const sidecar = sidecarOf(result);
    t.strictSame(sidecar?.volumeMounts?.at(-1), { name: 'promtail-credentials', mountPath: '/etc/promtail-credentials', readOnly: true });
    t.strictSame({ ...sidecar, volumeMounts: sidecar?.volumeMounts?.slice(0, -1) }, expectedSidecar(), 'nothing else changes');
    t.notOk(
      result.pod.spec.containers.filter((c) => c.name !== 'promtail').some((c) => c.volumeMounts?.some((m) => m.name === 'promtail-credentials')),
      'no app container sees it',
    );
    t.equal(statusOf(result).credentialsSecret, 'team-loki');
    t.equal(statusOf(injected(t, makePod())).credentialsSecret, undefined, 'none by default, and the status says nothing');
  });

  t.test('credentials-secret: from the settings, overridden by the annotation; a bad name is refused', async (t) => {
    const settings: InjectorSettings = deepFreeze({ ...DEFAULT_SETTINGS, credentialsSecret: 'loki-credentials' });
    const fromSettings = injected(t, makePod(), 'annotated', settings);
    t.strictSame(fromSettings.pod.spec.volumes?.at(-1), { name: 'promtail-credentials', secret: { secretName: 'loki-credentials', optional: true } });
    const overridden = injected(t, makePod({ annotations: { [A('credentials-secret')]: 'team-loki' } }), 'annotated', settings);
    t.equal(statusOf(overridden).credentialsSecret, 'team-loki');
    expectRefused(
      t,
      inject(makePod({ annotations: { [A('credentials-secret')]: 'Team_Loki' } })),
      'invalid_annotation',
      'annotation logging.sre-quero/credentials-secret: "Team_Loki" is not valid; expected a Secret name',
    );
    expectRefused(
      t,
      inject(makePod({ annotations: { [A('credentials-secret')]: 'team-loki' }, volumes: [{ name: 'promtail-credentials', secret: { secretName: 'other' } }] })),
      'volume_conflict',
      'volume "promtail-credentials" already exists and differs',
    );
  });

  t.test('resources: all four', async (t) => {
    const result = injected(
      t,
      makePod({
        annotations: { [A('cpu-request')]: '100m', [A('cpu-limit')]: '0.5', [A('memory-request')]: '32Mi', [A('memory-limit')]: '256Mi' },
      }),
    );
    t.strictSame(sidecarOf(result), expectedSidecar({ requests: { cpu: '100m', memory: '32Mi' }, limits: { cpu: '0.5', memory: '256Mi' } }));
  });

  t.test('resources: one annotation keeps the other defaults', async (t) => {
    const result = injected(t, makePod({ annotations: { [A('memory-limit')]: '256Mi' } }));
    t.strictSame(sidecarOf(result)?.resources, { requests: { cpu: '50m', memory: '64Mi' }, limits: { cpu: '200m', memory: '256Mi' } });
  });

  t.test('resources: request equal to limit is accepted', async (t) => {
    const result = injected(t, makePod({ annotations: { [A('cpu-request')]: '200m', [A('memory-request')]: '128Mi' } }));
    t.strictSame(sidecarOf(result)?.resources, { requests: { cpu: '200m', memory: '128Mi' }, limits: { cpu: '200m', memory: '128Mi' } });
  });

  t.test('resources: request above limit is refused naming the annotations', async (t) => {
    expectRefused(
      t,
      inject(makePod({ annotations: { [A('cpu-request')]: '300m' } })),
      'invalid_annotation',
      'annotation logging.sre-quero/cpu-request: the cpu request 300m would exceed the cpu limit 200m; expected logging.sre-quero/cpu-request no larger than logging.sre-quero/cpu-limit',
      'logging.sre-quero/cpu-limit',
    );
    expectRefused(
      t,
      inject(makePod({ annotations: { [A('memory-request')]: '256Mi', [A('memory-limit')]: '128Mi' } })),
      'invalid_annotation',
      'annotation logging.sre-quero/memory-request: the memory request 256Mi would exceed the memory limit 128Mi',
      'logging.sre-quero/memory-limit',
    );
    expectRefused(
      t,
      inject(makePod({ annotations: { [A('cpu-limit')]: '10m' } })),
      'invalid_annotation',
      'annotation logging.sre-quero/cpu-limit: the cpu request 50m would exceed the cpu limit 10m',
      'logging.sre-quero/cpu-request no larger than',
    );
  });

  t.test('resources: equal request and limit written in different units', async (t) => {
    for (const [request, limit] of [
      ['700m', '0.7'],
      ['9m', '0.009'],
    ]) {
      const result = inject(makePod({ annotations: { [A('cpu-request')]: request as string, [A('cpu-limit')]: limit as string } }));
      t.equal(result.kind, 'injected', `cpu-request ${request} equals cpu-limit ${limit}`);
    }
  });

  t.test('settings supply the defaults that annotations override', async (t) => {
    const settings: InjectorSettings = deepFreeze({
      ...DEFAULT_SETTINGS,
      images: { ...DEFAULT_SETTINGS.images, promtail: 'registry.local/promtail:3.6.0' },
      allowedImageRepositories: { ...DEFAULT_SETTINGS.allowedImageRepositories, promtail: ['registry.local/promtail'] },
      logPath: '/srv/app/logs',
      logGlob: '*.txt',
      metricsPort: 9200,
      configMap: 'central',
      resources: { ...DEFAULT_SETTINGS.resources, promtail: { requests: { cpu: '10m', memory: '32Mi' }, limits: { cpu: '100m', memory: '64Mi' } } },
    });
    const result = injected(t, makePod({ containers: [webContainer()] }), 'annotated', settings);
    t.strictSame(
      sidecarOf(result),
      expectedSidecar({
        image: 'registry.local/promtail:3.6.0',
        port: 9200,
        logPath: '/srv/app/logs',
        glob: '*.txt',
        requests: { cpu: '10m', memory: '32Mi' },
        limits: { cpu: '100m', memory: '64Mi' },
      }),
    );
    t.strictSame(result.pod.spec.volumes?.slice(1), layoutVolumes('central'));
    expectRefused(
      t,
      inject(makePod({ annotations: { [A('image')]: 'grafana/promtail:3.6.11' } }), 'annotated', settings),
      'invalid_annotation',
      'annotation logging.sre-quero/image',
      'registry.local/promtail',
    );
  });

  t.test('an invalid resource default is a programming error, not a refusal', async (t) => {
    const broken: InjectorSettings = {
      ...DEFAULT_SETTINGS,
      resources: { ...DEFAULT_SETTINGS.resources, promtail: { requests: { cpu: 'lots', memory: '64Mi' }, limits: { cpu: '200m', memory: '128Mi' } } },
    };
    t.throws(() => inject(makePod({ annotations: { [A('cpu-limit')]: '1' } }), 'annotated', broken), {
      message: 'invalid default quantity lots',
    });
  });
});

t.test('job default order: annotation, app.kubernetes.io/name, app, first target container', async (t) => {
  const jobOf = (options: PodOptions) => {
    const env = sidecarOf(injected(t, makePod(options)))?.env as { name: string; value?: string }[];
    return env.find((e) => e.name === 'LOG_JOB')?.value;
  };
  const both = { 'app.kubernetes.io/name': 'shop', app: 'legacy' };
  t.equal(jobOf({ labels: both, annotations: { [A('job')]: 'explicit' } }), 'explicit');
  t.equal(jobOf({ labels: both }), 'shop');
  t.equal(jobOf({ labels: { app: 'legacy' } }), 'legacy');
  t.equal(jobOf({ labels: { 'app.kubernetes.io/name': 'bad name', app: 'legacy' } }), 'legacy', 'an unusable label is skipped');
  t.equal(jobOf({ labels: {} }), 'web');
  t.equal(jobOf({ labels: {}, containers: [webContainer(), workerContainer()], annotations: { [A('containers')]: 'worker' } }), 'worker');
});

t.test('unknown keys under the prefix earn warnings', async (t) => {
  const result = injected(
    t,
    makePod({ annotations: { [A('foo')]: 'bar', [A('log_path')]: '/x', 'example.com/foo': 'x', 'logging.sre-quero.io/x': 'y' } }),
  );
  t.strictSame(result.warnings, ['unknown annotation logging.sre-quero/foo is ignored', 'unknown annotation logging.sre-quero/log_path is ignored']);
  t.strictSame(sidecarOf(result), expectedSidecar(), 'the unknown keys change nothing');

  const enforced = injected(t, makePod({ annotations: { [SIDECAR]: 'false', [A('foo')]: 'bar' } }), 'enforced');
  t.strictSame(enforced.warnings, [
    'logging.sre-quero/sidecar: "false" is not honoured: this namespace enforces the logging sidecar',
    'unknown annotation logging.sre-quero/foo is ignored',
  ]);
});

t.test('collisions', async (t) => {
  t.test('an existing shared-logs emptyDir is reused', async (t) => {
    for (const emptyDir of [{}, { medium: 'Memory', sizeLimit: '64Mi' }]) {
      const own = { name: 'shared-logs', emptyDir };
      const result = injected(t, makePod({ volumes: [own] }));
      t.strictSame(
        result.pod.spec.volumes,
        [own, { name: 'promtail-positions', emptyDir: {} }, { name: 'promtail-config', configMap: { name: 'promtail-sidecar-config' } }],
        'no duplicate volume, the pod keeps its own',
      );
      t.strictSame(result.warnings, ['the pod\'s own emptyDir volume "shared-logs" is reused for the logs']);
      t.strictSame(statusOf(result).reusedVolumes, ['shared-logs']);
    }
  });

  t.test('shared-logs of another type is a volume_conflict', async (t) => {
    expectRefused(
      t,
      inject(makePod({ volumes: [{ name: 'shared-logs', hostPath: { path: '/var/log' } }] })),
      'volume_conflict',
      'volume "shared-logs" already exists as a hostPath volume, not an emptyDir',
      'rename that volume',
      OPT_OUT_HINT,
    );
    expectRefused(t, inject(makePod({ volumes: [{ name: 'shared-logs' }] })), 'volume_conflict', 'as a volume without a source');
    expectRefused(t, inject(makePod({ volumes: [{ name: 'shared-logs', emptyDir: 'yes' }] })), 'volume_conflict', 'shared-logs');
  });

  t.test('promtail-config identical to ours is reused, different is a volume_conflict', async (t) => {
    const same = injected(t, makePod({ volumes: [{ name: 'promtail-config', configMap: { name: 'promtail-sidecar-config' } }] }));
    t.strictSame(same.pod.spec.volumes, [
      { name: 'promtail-config', configMap: { name: 'promtail-sidecar-config' } },
      { name: 'shared-logs', emptyDir: {} },
      { name: 'promtail-positions', emptyDir: {} },
    ], 'the pod keeps its own, ours are not added twice');
    t.strictSame(statusOf(same).reusedVolumes, ['promtail-config']);
    t.strictSame(same.warnings, []);

    const withAnnotation = injected(
      t,
      makePod({ annotations: { [A('config-map')]: 'mine' }, volumes: [{ name: 'promtail-config', configMap: { name: 'mine' } }] }),
    );
    t.strictSame(statusOf(withAnnotation).reusedVolumes, ['promtail-config']);

    for (const volume of [
      { name: 'promtail-config', configMap: { name: 'other' } },
      { name: 'promtail-config', configMap: { name: 'promtail-sidecar-config', defaultMode: 420 } },
      { name: 'promtail-config', secret: { secretName: 'promtail-sidecar-config' } },
    ]) {
      expectRefused(
        t,
        inject(makePod({ volumes: [volume] })),
        'volume_conflict',
        'volume "promtail-config" already exists and differs from the one sre-quero adds',
        OPT_OUT_HINT,
      );
    }
  });

  t.test('promtail-positions: an identical emptyDir is reused, anything else conflicts', async (t) => {
    const result = injected(t, makePod({ volumes: [{ name: 'promtail-positions', emptyDir: {} }] }));
    t.strictSame(statusOf(result).reusedVolumes, ['promtail-positions']);
    t.equal(result.pod.spec.volumes?.filter((v) => v.name === 'promtail-positions').length, 1);
    expectRefused(t, inject(makePod({ volumes: [{ name: 'promtail-positions', hostPath: { path: '/x' } }] })), 'volume_conflict', 'promtail-positions');
  });

  t.test('an app container mounting another volume at the log folder is a mount_conflict', async (t) => {
    for (const mountPath of ['/var/log/app', '/var/log/app/', '/var/log/app/.', '//var/log/app', '/var/log/x/../app', '/var//log/app//']) {
      const web = webContainer({ volumeMounts: [{ name: 'data', mountPath }] });
      expectRefused(
        t,
        inject(makePod({ containers: [web], volumes: [{ name: 'data', emptyDir: {} }] })),
        'mount_conflict',
        'container "web" already mounts volume "data" at /var/log/app',
        'logging.sre-quero/log-path',
        'logging.sre-quero/containers',
      );
    }
    const web = webContainer({ volumeMounts: [{ name: 'data', mountPath: '/var/log/app' }] });
    const excluded = injected(
      t,
      makePod({ containers: [web, workerContainer()], volumes: [{ name: 'data', emptyDir: {} }], annotations: { [A('containers')]: 'worker' } }),
    );
    t.strictSame(containerOf(excluded, 'web'), web, 'a container left out by the containers annotation is not checked');
    const moved = injected(t, makePod({ containers: [web], volumes: [{ name: 'data', emptyDir: {} }], annotations: { [A('log-path')]: '/var/log/promtail-app' } }));
    t.strictSame(containerOf(moved, 'web')?.volumeMounts, [
      { name: 'data', mountPath: '/var/log/app' },
      { name: 'shared-logs', mountPath: '/var/log/promtail-app' },
    ], 'following the advice (another log-path) works');
  });

  t.test('an app container mounting shared-logs elsewhere is a mount_conflict suggesting that path', async (t) => {
    const web = webContainer({ volumeMounts: [{ name: 'shared-logs', mountPath: '/logs' }] });
    const volumes = [{ name: 'shared-logs', emptyDir: {} }];
    expectRefused(
      t,
      inject(makePod({ containers: [web], volumes })),
      'mount_conflict',
      'container "web" mounts "shared-logs" at /logs, not at the log folder /var/log/app',
      'set logging.sre-quero/log-path: "/logs"',
    );
    const followed = injected(t, makePod({ containers: [web], volumes, annotations: { [A('log-path')]: '/logs' } }));
    t.strictSame(containerOf(followed, 'web'), web, 'following the advice works and adds no second mount');
    t.strictSame(sidecarOf(followed), expectedSidecar({ logPath: '/logs' }));
  });

  t.test('an app container already mounting shared-logs at the log folder keeps its single mount', async (t) => {
    const web = webContainer({ volumeMounts: [{ name: 'shared-logs', mountPath: '/var/log/app' }] });
    const result = injected(t, makePod({ containers: [web], volumes: [{ name: 'shared-logs', emptyDir: {} }] }));
    t.strictSame(containerOf(result, 'web'), web);
  });

  t.test('shared-logs mounted at the log folder under another spelling', async (t) => {
    for (const mountPath of ['/var/log/app/', '/var/log/app/.', '//var/log/app', '/var/log/x/../app']) {
      const web = webContainer({ volumeMounts: [{ name: 'shared-logs', mountPath }] });
      const result = injected(t, makePod({ containers: [web], volumes: [{ name: 'shared-logs', emptyDir: {} }] }));
      t.strictSame(containerOf(result, 'web'), web, `${mountPath}: the same folder, no second mount`);
    }
  });

  t.test('an existing promtail container without the status annotation is a container_conflict', async (t) => {
    const result = inject(makePod({ containers: [webContainer(), { name: 'promtail', image: 'grafana/promtail:2.9.0' }] }));
    expectRefused(t, result, 'container_conflict', 'container "promtail" already exists', 'remove the hand-written one', OPT_OUT_HINT);
  });

  t.test('an init container named promtail would give the pod two containers of that name', async (t) => {
    const result = inject(makePod({ initContainers: [{ name: 'promtail', image: 'busybox:1.36' }] }));
    t.equal(result.kind, 'refused', 'refused instead of producing a pod the API server rejects');
    t.equal('reason' in result ? result.reason : undefined, 'container_conflict');
  });

  t.test('port 9080 used by an app or init container is a port_conflict naming the metrics-port annotation', async (t) => {
    const web = webContainer({ ports: [{ containerPort: 9080 }] });
    expectRefused(
      t,
      inject(makePod({ containers: [web] })),
      'port_conflict',
      'container "web" already uses port 9080',
      'set logging.sre-quero/metrics-port to a free port',
    );
    const init = { name: 'init-db', image: 'busybox:1.36', ports: [{ containerPort: 9080, protocol: 'UDP' }] };
    expectRefused(
      t,
      inject(makePod({ initContainers: [init] })),
      'port_conflict',
      'container "init-db" already uses port 9080',
      'logging.sre-quero/metrics-port',
    );
    const moved = injected(t, makePod({ containers: [web], annotations: { [A('metrics-port')]: '9081' } }));
    t.strictSame(sidecarOf(moved), expectedSidecar({ port: 9081 }), 'following the advice works');
  });

  t.test('a port named promtail-http is a port_conflict', async (t) => {
    const web = webContainer({ ports: [{ name: 'promtail-http', containerPort: 3100 }] });
    expectRefused(
      t,
      inject(makePod({ containers: [web] })),
      'port_conflict',
      'container "web" already has a port named "promtail-http"',
      'rename that port',
    );
  });

  t.test('a metrics-port annotation picking a used port is a port_conflict', async (t) => {
    expectRefused(
      t,
      inject(makePod({ annotations: { [A('metrics-port')]: '8080' } })),
      'port_conflict',
      'container "web" already uses port 8080',
      'logging.sre-quero/metrics-port',
    );
  });

  t.test('a containers annotation naming a missing container is unknown_container', async (t) => {
    expectRefused(
      t,
      inject(makePod({ containers: [webContainer(), workerContainer()], annotations: { [A('containers')]: 'web,ghost,spook' } })),
      'unknown_container',
      'annotation logging.sre-quero/containers: no container named "ghost", "spook" in the pod',
      'expected names from: web, worker',
    );
    // Init containers are valid targets since issue 9 (their logs are shipped too).
    const init = injected(t, makePod({ initContainers: [{ name: 'migrate' }], annotations: { [A('containers')]: 'migrate' } }));
    t.same(init.pod.spec.initContainers?.[0]?.volumeMounts, [{ name: 'shared-logs', mountPath: '/var/log/app' }], 'an init container may be listed');
  });
});

t.test('hostile values via annotations are invalid_annotation naming the key and the accepted form', async (t) => {
  const cases: [string, string, string][] = [
    ['log-path', '/etc', 'an absolute folder such as /var/log/app'],
    ['log-path', '/etc/nginx', 'not a system folder like /etc'],
    ['log-path', '/', 'an absolute folder'],
    ['log-path', '/var/log/../etc', 'no ".."'],
    ['log-path', 'var/log/app', 'an absolute folder'],
    ['log-path', '/tmp', 'an absolute folder'],
    ['log-path', '/proc/1', 'an absolute folder'],
    ['log-glob', '../x', 'a relative file pattern such as *.log'],
    ['log-glob', '/abs/*.log', 'a relative file pattern'],
    ['log-glob', '', 'a relative file pattern'],
    ['containers', 'web,web', 'each named once'],
    ['containers', 'Web', 'a comma-separated list of container names'],
    ['containers', 'web,,x', 'a comma-separated list of container names'],
    ['job', 'my job', 'a label value of at most 63 characters'],
    ['job', 'j'.repeat(64), 'a label value of at most 63 characters'],
    ['image', 'evil.example.com/promtail:1.0', 'an image of grafana/promtail or docker.io/grafana/promtail pinned by tag or digest'],
    ['image', 'grafana/promtail', 'pinned by tag or digest'],
    ['image', 'grafana/promtail:latest', 'pinned by tag or digest'],
    ['metrics-port', '80', 'a port number from 1024 to 65535'],
    ['metrics-port', '9080x', 'a port number from 1024 to 65535'],
    ['config-map', 'My_Config', 'a ConfigMap name'],
    ['cpu-request', '5', 'a CPU quantity from 1m to 4'],
    ['cpu-limit', '0', 'a CPU quantity from 1m to 4'],
    ['memory-request', '10Mi', 'a memory quantity from 16Mi to 4Gi'],
    ['memory-limit', '1000Ti', 'a memory quantity from 16Mi to 4Gi'],
  ];
  for (const mode of ['annotated', 'enforced'] as const) {
    for (const [key, value, form] of cases) {
      const result = inject(makePod({ annotations: { [A(key)]: value } }), mode);
      expectRefused(t, result, 'invalid_annotation', `annotation logging.sre-quero/${key}: "${value}" is not valid; expected `, form);
    }
  }

  t.test('control characters are escaped and long values clipped', async (t) => {
    const newline = inject(makePod({ annotations: { [A('log-path')]: '/var/log/app\n' } }));
    expectRefused(t, newline, 'invalid_annotation', 'annotation logging.sre-quero/log-path: "/var/log/app\\n" is not valid');
    t.notOk(newline.kind === 'refused' && newline.message.includes('\n'), 'no raw newline in the message');
    const long = inject(makePod({ annotations: { [A('log-path')]: `/var/log/${'a'.repeat(300)}` } }));
    expectRefused(t, long, 'invalid_annotation', `"/var/log/${'a'.repeat(55)}…" is not valid`);
    t.ok(long.kind === 'refused' && long.message.length < 300, 'the message stays short');
  });

  t.test('without an opt-in nothing is validated: the pod is skipped', async (t) => {
    const pod = makePod({ annotations: { [SIDECAR]: 'false', [A('log-path')]: '/etc' } });
    t.strictSame(inject(pod, 'annotated'), { kind: 'skipped', reason: 'opted_out' });
    t.strictSame(inject(pod, 'enabled'), { kind: 'skipped', reason: 'opted_out' });
    expectRefused(t, inject(pod, 'enforced'), 'invalid_annotation', 'logging.sre-quero/log-path');
  });
});

t.test('pods the layout does not fit', async (t) => {
  t.test('a Windows pod is skipped with a reason in every mode, an opt-out stays an opt-out', async (t) => {
    for (const mode of MODES) t.match(inject(makePod({ spec: { os: { name: 'windows' } } }), mode), { kind: 'skipped', reason: 'windows_pod' }, mode);
    t.match(inject(makePod({ spec: { os: { name: 'windows' } }, annotations: { [SIDECAR]: 'false' } }), 'enabled'), { kind: 'skipped', reason: 'opted_out' });
    t.equal(inject(makePod({ spec: { os: { name: 'linux' } } })).kind, 'injected', 'os linux is served');
  });

  t.test('annotations that would pass 256 KiB with the status are refused, just below is fine', async (t) => {
    const room = (extra: number) => {
      // The pod's own annotations plus the status must stay within 262144 bytes.
      const probe = injected(t, makePod({ annotations: { big: '' } }));
      const used = Object.entries(probe.pod.metadata?.annotations ?? {}).reduce((sum, [k, v]) => sum + Buffer.byteLength(k) + Buffer.byteLength(v), 0);
      return 'x'.repeat(262144 - used + extra);
    };
    t.equal(inject(makePod({ annotations: { big: room(0) } })).kind, 'injected', 'exactly at the limit');
    expectRefused(t, inject(makePod({ annotations: { big: room(1) } })), 'annotations_too_large', '262145 bytes', 'limit of 262144', 'trim the pod');
    // 131,072 characters, but twice as many bytes: the limit counts bytes.
    expectRefused(t, inject(makePod({ annotations: { big: 'é'.repeat(131072) } })), 'annotations_too_large', 'limit of 262144');
  });

  t.test('hostNetwork: a warning that the port is the node\'s, conflicts with host ports and the node\'s own daemons', async (t) => {
    const result = injected(t, makePod({ spec: { hostNetwork: true } }));
    t.match(result.warnings, [/^hostNetwork: the sidecar listens on port 9080 of the node itself/]);
    t.strictSame(injected(t, makePod()).warnings, [], 'no warning without hostNetwork');
    const hostPorted = webContainer({ ports: [{ containerPort: 8080, hostPort: 9080 }] });
    expectRefused(t, inject(makePod({ spec: { hostNetwork: true }, containers: [hostPorted] })), 'port_conflict', 'container "web" already uses port 9080');
    t.equal(inject(makePod({ containers: [hostPorted] })).kind, 'injected', 'a host port matters only on the node\'s network');
    expectRefused(t, inject(makePod({ spec: { hostNetwork: true }, annotations: { [A('metrics-port')]: '10250' } })), 'port_conflict', 'port 10250 belongs to the kubelet on every node');
    t.equal(inject(makePod({ annotations: { [A('metrics-port')]: '10250' } })).kind, 'injected', 'in the pod network 10250 is free');
  });

  t.test('messages and warnings clip what the pod wrote and escape control characters', async (t) => {
    const hostile = `evil\u001b[31m\u202e${'n'.repeat(300)}`;
    const withPort = webContainer({ name: hostile, ports: [{ containerPort: 9080 }] });
    const refused = inject(makePod({ containers: [withPort] }));
    const message = refused.kind === 'refused' ? refused.message : '';
    t.notMatch(message, /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u, 'no control or format character left');
    t.ok(message.includes('evil\\u001b[31m\\u202e'), 'escaped, still readable', { message });
    t.ok(message.length < 250, 'clipped', { length: message.length });
    const elsewhere = inject(makePod({ containers: [webContainer({ name: hostile, volumeMounts: [{ name: 'shared-logs', mountPath: '/cache' }] })], volumes: [{ name: 'shared-logs', emptyDir: {} }] }));
    t.ok(elsewhere.kind === 'refused' && !/[\p{Cc}\p{Cf}]/u.test(elsewhere.message), 'the mounted-elsewhere message too (found by bench/adversarial.ts, seed 13623)');
    const unknown = inject(makePod({ containers: [webContainer({ name: hostile })], annotations: { [A('containers')]: 'nope' } }));
    t.ok(unknown.kind === 'refused' && unknown.message.length < 400 && !/\u001b/.test(unknown.message), 'the expected names are clipped too');
    const warned = injected(t, makePod({ annotations: { [`logging.sre-quero/${'typo\n'.repeat(40)}`]: 'x' } }));
    t.ok(warned.warnings.every((w) => w.length < 150 && !w.includes('\n')), 'unknown keys in warnings are clipped', { warnings: warned.warnings });
  });
});

t.test('sidecar-mode native: the first init container, restartPolicy Always, the same sidecar otherwise', async (t) => {
  const migrate: Container = { name: 'migrate-db', image: 'example/migrate:1' };
  const result = injected(t, makePod({ annotations: { [A('sidecar-mode')]: 'native' }, initContainers: [migrate], restartPolicy: 'Never' }));
  const init = result.pod.spec.initContainers ?? [];
  t.same(init.map((c) => c.name), ['promtail', 'migrate-db'], 'first, before the pod\'s own init containers');
  t.strictSame(init[0], { ...expectedSidecar(), restartPolicy: 'Always' });
  t.strictSame(init[1], migrate, 'the other init container untouched');
  t.same(result.pod.spec.containers.map((c) => c.name), ['web'], 'no classic sidecar');
  t.same(containerOf(result, 'web')?.volumeMounts?.at(-1), { name: 'shared-logs', mountPath: '/var/log/app' });
  t.strictSame(result.pod.spec.volumes?.slice(1), layoutVolumes());
  t.match(statusOf(result), { sidecarMode: 'native', sidecarModeFrom: 'annotation' });
  t.equal(inject(result.pod).kind, 'skipped', 'a pod with the native sidecar and the status is injected once');
  t.match(inject(result.pod), { reason: 'already_injected' });
});

t.test('init containers listed in containers get the log folder (both modes); unlisted ones are untouched', async (t) => {
  const migrate: Container = { name: 'migrate-db', image: 'example/migrate:1' };
  const other: Container = { name: 'wait-for-db', image: 'example/wait:1' };
  for (const sidecarMode of ['native', 'classic']) {
    const result = injected(t, makePod({ annotations: { [A('sidecar-mode')]: sidecarMode, [A('containers')]: 'migrate-db,web' }, initContainers: [migrate, other] }));
    const init = (result.pod.spec.initContainers ?? []).filter((c) => c.name !== 'promtail');
    t.same(init[0]?.volumeMounts, [{ name: 'shared-logs', mountPath: '/var/log/app' }], `${sidecarMode}: the listed init container mounts the log folder`);
    t.strictSame(init[1], other, `${sidecarMode}: the other is untouched`);
    t.same(statusOf(result).containers, ['migrate-db', 'web']);
    const sidecar = [...(result.pod.spec.initContainers ?? []), ...result.pod.spec.containers].find((c) => c.name === 'promtail');
    t.match((sidecar?.env as { name: string; value?: string }[]).find((e) => e.name === 'APP_CONTAINERS'), { value: 'migrate-db,web' });
  }
  const byDefault = injected(t, makePod({ annotations: { [A('sidecar-mode')]: 'native' }, initContainers: [migrate] }));
  t.strictSame(byDefault.pod.spec.initContainers?.[1], migrate, 'not listed: no mount (only app containers by default)');
  const clash = { ...migrate, volumeMounts: [{ name: 'data', mountPath: '/var/log/app' }] };
  expectRefused(t, inject(makePod({ annotations: { [A('containers')]: 'migrate-db' }, initContainers: [clash], volumes: [{ name: 'data', emptyDir: {} }] })), 'mount_conflict', 'container "migrate-db" already mounts volume "data"');
  expectRefused(t, inject(makePod({ annotations: { [A('containers')]: 'nope' }, initContainers: [migrate] })), 'unknown_container', 'expected names from: web, migrate-db');
});

t.test('sidecar-mode: from the settings, overridden per pod; a bad value is refused', async (t) => {
  const native: InjectorSettings = deepFreeze({ ...DEFAULT_SETTINGS, sidecarMode: 'native' });
  const fromSettings = injected(t, makePod(), 'annotated', native);
  t.same(fromSettings.pod.spec.initContainers?.map((c) => c.name), ['promtail']);
  t.match(statusOf(fromSettings), { sidecarMode: 'native', sidecarModeFrom: 'settings' });
  const classic = injected(t, makePod({ annotations: { [A('sidecar-mode')]: 'classic' } }), 'annotated', native);
  t.equal(classic.pod.spec.initContainers, undefined, 'no initContainers field appears');
  t.same(classic.pod.spec.containers.map((c) => c.name), ['web', 'promtail']);
  t.match(statusOf(classic), { sidecarMode: 'classic', sidecarModeFrom: 'annotation' });
  expectRefused(t, inject(makePod({ annotations: { [A('sidecar-mode')]: 'Native' } })), 'invalid_annotation', 'annotation logging.sre-quero/sidecar-mode: "Native" is not valid; expected "classic", "native" or "auto"');
});

t.test('sidecar-mode auto: native where every node that may run the pod supports it, classic otherwise or without node information', async (t) => {
  const nodes = (entries: Record<string, string>): NodeFacts => ({ kubeletVersions: new Map(Object.entries(entries)) });
  const auto = { [A('sidecar-mode')]: 'auto' };
  const modeOf = (pod: PodTemplate, facts?: NodeFacts, settings: InjectorSettings = DEFAULT_SETTINGS) => {
    const result = injectPod(pod, settings, 'annotated', facts);
    if (result.kind !== 'injected') throw new Error(`not injected: ${JSON.stringify(result)}`);
    return [statusOf(result).sidecarMode, statusOf(result).sidecarModeReason, result.pod.spec.initContainers?.[0]?.name ?? result.pod.spec.containers.at(-1)?.name];
  };
  t.same(modeOf(makePod({ annotations: auto }), nodes({ a: 'v1.33.0', b: 'v1.37.2' })), ['native', 'nodes_support_native', 'promtail']);
  t.same(modeOf(makePod({ annotations: auto }), nodes({ a: 'v1.33.0', b: 'v1.32.9-eks-1a2b' })), ['classic', 'node_too_old', 'promtail'], 'one old node is enough');
  t.same(modeOf(makePod({ annotations: auto }), undefined), ['classic', 'no_node_information', 'promtail'], 'offline: classic');
  t.same(modeOf(makePod({ annotations: auto }), nodes({})), ['classic', 'no_node_information', 'promtail'], 'no node at all');
  t.same(modeOf(makePod({ annotations: auto, spec: { nodeName: 'new' } }), nodes({ new: 'v1.34.1', old: 'v1.28.3' })), ['native', 'nodes_support_native', 'promtail'], 'a pod bound to a node: that node only');
  t.same(modeOf(makePod({ annotations: auto, spec: { nodeName: 'old' } }), nodes({ new: 'v1.34.1', old: 'v1.28.3' })), ['classic', 'node_too_old', 'promtail']);
  t.same(modeOf(makePod({ annotations: auto, spec: { nodeName: 'unknown' } }), nodes({ new: 'v1.34.1', old: 'v1.28.3' })), ['classic', 'node_too_old', 'promtail'], 'an unknown node: all nodes');
  t.same(modeOf(makePod({ annotations: auto }), nodes({ a: 'garbage' })), ['classic', 'node_too_old', 'promtail'], 'an unreadable version counts as old');
  const fromSettings = injectPod(makePod(), { ...DEFAULT_SETTINGS, sidecarMode: 'auto' }, 'annotated', nodes({ a: 'v1.35.0' }));
  t.match(fromSettings.kind === 'injected' ? statusOf(fromSettings) : {}, { sidecarMode: 'native', sidecarModeFrom: 'settings', sidecarModeReason: 'nodes_support_native' });
  t.match(fromSettings, { sidecar: { sidecarMode: 'native', sidecarModeFrom: 'settings', sidecarModeReason: 'nodes_support_native' } }, 'the result says it too, for logs and metrics');
  const job = injectPod(makePod({ annotations: auto, restartPolicy: 'Never' }), DEFAULT_SETTINGS, 'annotated', nodes({ a: 'v1.30.0' }));
  t.match(job, { kind: 'refused', reason: 'needs_native_sidecar', message: /sidecar mode auto chose classic: a node runs a kubelet older than 1\.33/ });
  t.equal(statusOf(injected(t, makePod())).sidecarModeReason, undefined, 'no reason unless auto chose');
});

t.test('the sidecar keeps shipping for a moment once told to stop: a preStop sleep where every node that may run the pod accepts one', async (t) => {
  const nodes = (entries: Record<string, string>): NodeFacts => ({ kubeletVersions: new Map(Object.entries(entries)) });
  const lifecycleOf = (pod: PodTemplate, facts?: NodeFacts) => {
    const result = injectPod(pod, DEFAULT_SETTINGS, 'annotated', facts);
    if (result.kind !== 'injected') throw new Error(`not injected: ${JSON.stringify(result)}`);
    return [...(result.pod.spec.initContainers ?? []), ...result.pod.spec.containers].find((c) => c.name === 'promtail')?.lifecycle;
  };
  const sleep = (seconds: number) => ({ preStop: { sleep: { seconds } } });
  t.same(lifecycleOf(makePod(), nodes({ a: 'v1.30.0', b: 'v1.37.2' })), sleep(DRAIN_SECONDS), 'kubelets of 1.30 and newer: the sleep action is on');
  t.equal(DRAIN_SECONDS, 3);
  t.same(lifecycleOf(makePod({ annotations: { [A('sidecar-mode')]: 'native' }, restartPolicy: 'Never' }), nodes({ a: 'v1.33.1' })), sleep(3), "a native sidecar too (a Job's last lines)");
  t.equal(lifecycleOf(makePod(), nodes({ a: 'v1.30.0', b: 'v1.29.9' })), undefined, 'one node older than 1.30: none (the API server may not know the sleep action)');
  t.equal(lifecycleOf(makePod(), undefined), undefined, 'no node information (offline inject): none');
  t.equal(lifecycleOf(makePod(), nodes({})), undefined, 'no node known: none');
  t.same(lifecycleOf(makePod({ spec: { nodeName: 'new' } }), nodes({ new: 'v1.31.0', old: 'v1.28.0' })), sleep(3), 'a pod bound to a node: that node only');
  t.same(lifecycleOf(makePod({ spec: { terminationGracePeriodSeconds: 1 } }), nodes({ a: 'v1.34.0' })), sleep(1), 'never longer than the grace period (the API server refuses that)');
  t.equal(lifecycleOf(makePod({ spec: { terminationGracePeriodSeconds: 0 } }), nodes({ a: 'v1.34.0' })), undefined, 'a pod killed at once: none (sleep 0 is refused before 1.33)');
  t.same(lifecycleOf(makePod({ spec: { terminationGracePeriodSeconds: 60 } }), nodes({ a: 'v1.34.0' })), sleep(3));
  const noGrace = makePod();
  delete (noGrace.spec as { terminationGracePeriodSeconds?: number }).terminationGracePeriodSeconds;
  t.same(lifecycleOf(noGrace, nodes({ a: 'v1.34.0' })), sleep(3), "left out (a template): the API server's default, 30 s");
});

t.test('classic mode refuses run-to-completion pods (Jobs), which it would keep from completing', async (t) => {
  for (const restartPolicy of ['Never', 'OnFailure']) {
    expectRefused(
      t,
      inject(makePod({ restartPolicy })),
      'needs_native_sidecar',
      `restartPolicy ${restartPolicy} (a Job's pod)`,
      'would never complete',
      'logging.sre-quero/sidecar-mode: "native"',
      'logging.sre-quero/sidecar: "false"',
    );
    t.equal(injected(t, makePod({ restartPolicy, annotations: { [A('sidecar-mode')]: 'native' } })).kind, 'injected', `native with ${restartPolicy}`);
  }
  t.equal(inject(makePod({ restartPolicy: 'Never', annotations: { [SIDECAR]: 'false' } }), 'enabled').kind, 'skipped', 'an opted-out Job pod is left alone');
});

t.test('a hand-written init container named promtail is a conflict, not an injected pod', async (t) => {
  const own: Container = { name: 'promtail', image: 'grafana/promtail:3.6.11', restartPolicy: 'Always' };
  expectRefused(t, inject(makePod({ initContainers: [own] })), 'container_conflict', 'container "promtail" already exists');
  const withStatus = makePod({ initContainers: [{ name: 'promtail', image: 'x' }], annotations: { [STATUS]: '{}' } });
  t.equal(isInjected(withStatus.metadata?.annotations ?? {}, withStatus.spec), false, 'an init container that is not a sidecar (no restartPolicy Always) does not count');
});

t.test('ANNOTATIONS names every key under the prefix', async (t) => {
  t.strictSame(Object.values(ANNOTATIONS).sort(), [
    'agent',
    'config-map',
    'containers',
    'cpu-limit',
    'cpu-request',
    'credentials-secret',
    'image',
    'job',
    'log-glob',
    'log-path',
    'memory-limit',
    'memory-request',
    'metrics-port',
    'sidecar',
    'sidecar-mode',
    'status',
  ].map(A));
});

t.test('podShapeProblem', async (t) => {
  t.equal(podShapeProblem(makePod(), 'object'), undefined);
  t.equal(podShapeProblem({ spec: { containers: [{ name: 'a', ports: [], volumeMounts: [] }], initContainers: [], volumes: [] } }, 'o'), undefined);
  const cases: [unknown, string][] = [
    [null, 'o must be an object'],
    [[], 'o must be an object'],
    [{ metadata: 'x', spec: {} }, 'o.metadata must be an object'],
    [{ metadata: { labels: { a: 1 } }, spec: {} }, 'o.metadata.labels must map strings to strings'],
    [{ metadata: { annotations: [] }, spec: {} }, 'o.metadata.annotations must map strings to strings'],
    [{}, 'o.spec must be an object'],
    [{ spec: {} }, 'o.spec.containers must be a non-empty list'],
    [{ spec: { containers: [] } }, 'o.spec.containers must be a non-empty list'],
    [{ spec: { containers: [{ name: '' }] } }, 'o.spec.containers[0] must be an object with a non-empty name'],
    [{ spec: { containers: [{ name: 'a' }, 'b'] } }, 'o.spec.containers[1] must be an object with a non-empty name'],
    [{ spec: { containers: [{ name: 'a', ports: {} }] } }, 'o.spec.containers[0].ports must be a list of objects'],
    [{ spec: { containers: [{ name: 'a', volumeMounts: [1] }] } }, 'o.spec.containers[0].volumeMounts must be a list of objects'],
    [{ spec: { containers: [{ name: 'a' }], initContainers: {} } }, 'o.spec.initContainers must be a list'],
    [{ spec: { containers: [{ name: 'a' }], volumes: [{}] } }, 'o.spec.volumes[0] must be an object with a non-empty name'],
  ];
  for (const [value, problem] of cases) t.equal(podShapeProblem(value, 'o'), problem, problem);
});

// ---------------------------------------------------------------- agents

/** The alloy sidecar: the recipe's layout, alloy's command line and image, and a /tmp of its own. */
function expectedAlloySidecar(shape: Partial<SidecarShape> = {}): Container {
  // alloy's default resources are its own (agents.ts), provisional until measured: read, not restated.
  const promtail = expectedSidecar({ image: 'grafana/alloy:v1.19.2', ...DEFAULT_SETTINGS.resources.alloy, ...shape });
  return {
    ...promtail,
    args: [
      'run',
      '/etc/promtail/config.alloy',
      `--server.http.listen-addr=:${shape.port ?? 9080}`,
      '--storage.path=/run/promtail',
      '--disable-reporting',
      '--server.http.disable-support-bundle',
    ],
    volumeMounts: [...(promtail.volumeMounts ?? []), { name: 'promtail-tmp', mountPath: '/tmp' }],
  };
}
const AGENT = A('agent');
const alloyVolumes = (configMap?: string): Volume[] => [...layoutVolumes(configMap), { name: 'promtail-tmp', emptyDir: {} }];

t.test('agent alloy by annotation: the same contract, alloy\'s command line, its config key, a /tmp volume', async (t) => {
  const result = injected(t, makePod({ annotations: { [AGENT]: 'alloy' } }));
  t.strictSame(sidecarOf(result), expectedAlloySidecar(), 'the whole container');
  t.strictSame(result.pod.spec.volumes?.slice(1), alloyVolumes(), 'the layout\'s volumes, the same ConfigMap, and promtail-tmp');
  t.strictSame(containerOf(result, 'web')?.volumeMounts?.at(-1), { name: 'shared-logs', mountPath: '/var/log/app' }, 'the app\'s side is the same');
  t.match(statusOf(result), { sidecar: 'promtail', agent: 'alloy', image: 'grafana/alloy:v1.19.2', metricsPort: 9080, configMap: 'promtail-sidecar-config' });
  t.strictSame(result.sidecar, { agent: 'alloy', agentFrom: 'annotation', sidecarMode: 'classic', sidecarModeFrom: 'settings' });
  t.match(inject(result.pod), { kind: 'skipped', reason: 'already_injected' }, 'injected once');
  t.strictSame(sidecarOf(injected(t, makePod({ annotations: { [AGENT]: 'promtail' } }))), expectedSidecar(), 'promtail by name: the recipe');
});

t.test("resources: each agent's own defaults, from the settings; the annotations override them whatever the agent", async (t) => {
  const { promtail, alloy } = DEFAULT_SETTINGS.resources;
  t.notSame(alloy, promtail, 'the agents differ, so a mix-up shows');
  const resourcesOf = (annotations: Record<string, string>, settings?: InjectorSettings) => sidecarOf(injected(t, makePod({ annotations }), 'annotated', settings))?.resources;
  t.strictSame(resourcesOf({}), { requests: { cpu: '50m', memory: '64Mi' }, limits: { cpu: '200m', memory: '128Mi' } }, "a promtail pod: promtail's, as before");
  t.strictSame(resourcesOf({ [AGENT]: 'alloy' }), alloy, "an alloy pod (annotation): alloy's");
  t.strictSame(resourcesOf({}, deepFreeze({ ...DEFAULT_SETTINGS, agent: 'alloy' })), alloy, "an alloy pod (settings agent): alloy's");

  t.strictSame(resourcesOf({ [AGENT]: 'alloy', [A('memory-limit')]: '1Gi' }), { requests: alloy.requests, limits: { ...alloy.limits, memory: '1Gi' } }, "one annotation; the rest alloy's");
  t.strictSame(
    resourcesOf({ [AGENT]: 'alloy', [A('cpu-request')]: '20m', [A('cpu-limit')]: '300m', [A('memory-request')]: '32Mi', [A('memory-limit')]: '96Mi' }),
    { requests: { cpu: '20m', memory: '32Mi' }, limits: { cpu: '300m', memory: '96Mi' } },
    'all four: below the defaults is fine too',
  );
  expectRefused(
    t,
    inject(makePod({ annotations: { [AGENT]: 'alloy', [A('cpu-request')]: '4' } })),
    'invalid_annotation',
    `annotation logging.sre-quero/cpu-request: the cpu request 4 would exceed the cpu limit ${alloy.limits.cpu}`,
  );

  const tuned: InjectorSettings = deepFreeze({
    ...DEFAULT_SETTINGS,
    resources: { ...DEFAULT_SETTINGS.resources, alloy: { requests: { cpu: '150m', memory: '200Mi' }, limits: { cpu: '1', memory: '512Mi' } } },
  });
  t.strictSame(resourcesOf({ [AGENT]: 'alloy' }, tuned), tuned.resources.alloy, "settings resources.alloy: alloy pods'");
  t.strictSame(resourcesOf({}, tuned), promtail, 'promtail pods keep theirs');
  t.strictSame(resourcesOf({ [AGENT]: 'alloy', [A('cpu-limit')]: '2' }, tuned), { requests: tuned.resources.alloy.requests, limits: { cpu: '2', memory: '512Mi' } }, 'the annotation over the settings');
});

t.test('agent alloy with the other options: port, glob, credentials, native mode', async (t) => {
  const result = injected(
    t,
    makePod({
      annotations: { [AGENT]: 'alloy', [A('metrics-port')]: '9180', [A('log-glob')]: '**/*.json', [A('credentials-secret')]: 'loki', [A('sidecar-mode')]: 'native' },
      restartPolicy: 'Never',
    }),
  );
  const [sidecar] = result.pod.spec.initContainers ?? [];
  const expected = expectedAlloySidecar({ port: 9180, glob: '**/*.json' });
  t.strictSame(sidecar, {
    ...expected,
    restartPolicy: 'Always',
    volumeMounts: [...(expected.volumeMounts ?? []), { name: 'promtail-credentials', mountPath: '/etc/promtail-credentials', readOnly: true }],
  });
  t.strictSame(result.pod.spec.volumes?.slice(1), [...alloyVolumes(), { name: 'promtail-credentials', secret: { secretName: 'loki', optional: true } }]);
});

t.test('agent from the settings; the annotation picks another', async (t) => {
  const alloy: InjectorSettings = deepFreeze({ ...DEFAULT_SETTINGS, agent: 'alloy' });
  const fromSettings = injected(t, makePod(), 'annotated', alloy);
  t.strictSame(sidecarOf(fromSettings), expectedAlloySidecar());
  t.match(fromSettings.sidecar, { agent: 'alloy', agentFrom: 'settings' });
  const back = injected(t, makePod({ annotations: { [AGENT]: 'promtail' } }), 'annotated', alloy);
  t.strictSame(sidecarOf(back), expectedSidecar(), 'a pod may stay on promtail while it is allowed');
  t.strictSame(back.pod.spec.volumes?.slice(1), layoutVolumes(), 'no /tmp volume for promtail');
  t.match(back.sidecar, { agent: 'promtail', agentFrom: 'annotation' });

  const mirrored: InjectorSettings = deepFreeze({
    ...alloy,
    images: { ...alloy.images, alloy: 'registry.local/grafana/alloy:v1.19.2' },
    allowedImageRepositories: { ...alloy.allowedImageRepositories, alloy: ['registry.local/grafana/alloy'] },
  });
  t.equal(sidecarOf(injected(t, makePod(), 'annotated', mirrored))?.image, 'registry.local/grafana/alloy:v1.19.2', 'the settings\' image for the agent');
});

t.test('the agent annotation is validated: a known agent, one the platform allows', async (t) => {
  for (const value of ['Alloy', 'fluent-bit', '', 'alloy ', 'promtail,alloy']) {
    expectRefused(t, inject(makePod({ annotations: { [AGENT]: value } })), 'invalid_annotation', `annotation logging.sre-quero/agent: "${value}" is not valid; expected "promtail" or "alloy"`);
  }
  const alloyOnly: InjectorSettings = deepFreeze({ ...DEFAULT_SETTINGS, agent: 'alloy', allowedAgents: ['alloy'] });
  expectRefused(
    t,
    inject(makePod({ annotations: { [AGENT]: 'promtail' } }), 'annotated', alloyOnly),
    'invalid_annotation',
    'annotation logging.sre-quero/agent: "promtail" is not allowed here; expected "alloy" (the agents the platform allows, settings allowedAgents)',
  );
  t.equal(injected(t, makePod({ annotations: { [AGENT]: 'alloy' } }), 'annotated', alloyOnly).sidecar.agent, 'alloy', 'the allowed one is fine');
  t.match(inject(makePod({ annotations: { [SIDECAR]: 'false', [AGENT]: 'x' } })), { kind: 'skipped' }, 'not validated when the pod is not injected');
});

t.test('the image annotation must be an image of the pod\'s agent', async (t) => {
  const alloyImage = 'docker.io/grafana/alloy:v1.19.1';
  const withAlloy = injected(t, makePod({ annotations: { [AGENT]: 'alloy', [A('image')]: alloyImage } }));
  t.strictSame(sidecarOf(withAlloy), expectedAlloySidecar({ image: alloyImage }));
  expectRefused(
    t,
    inject(makePod({ annotations: { [AGENT]: 'alloy', [A('image')]: 'grafana/promtail:3.6.11' } })),
    'invalid_annotation',
    'annotation logging.sre-quero/image: "grafana/promtail:3.6.11" is not valid; expected an image of grafana/alloy or docker.io/grafana/alloy pinned by tag or digest, such as grafana/alloy:v1.19.2 (the pod runs the alloy agent); that is an image of the promtail agent: set logging.sre-quero/agent: "promtail" to run it',
  );
  expectRefused(
    t,
    inject(makePod({ annotations: { [A('image')]: 'grafana/alloy:v1.19.2' } })),
    'invalid_annotation',
    'such as grafana/promtail:3.6.11 (the pod runs the promtail agent); that is an image of the alloy agent: set logging.sre-quero/agent: "alloy" to run it',
  );
  const promtailOnly: InjectorSettings = deepFreeze({ ...DEFAULT_SETTINGS, allowedAgents: ['promtail'] });
  const refused = inject(makePod({ annotations: { [A('image')]: 'grafana/alloy:v1.19.2' } }), 'annotated', promtailOnly);
  expectRefused(t, refused, 'invalid_annotation', '(the pod runs the promtail agent)');
  t.notOk(refused.kind === 'refused' && refused.message.includes('set logging.sre-quero/agent'), 'no hint towards an agent the platform forbids');
  expectRefused(t, inject(makePod({ annotations: { [AGENT]: 'alloy', [A('image')]: 'grafana/alloy:latest' } })), 'invalid_annotation', '(the pod runs the alloy agent)');
});

t.test('promtail-tmp: an identical emptyDir is reused, anything else conflicts; promtail pods leave it alone', async (t) => {
  const alloy = { [AGENT]: 'alloy' };
  const same = injected(t, makePod({ annotations: alloy, volumes: [{ name: 'promtail-tmp', emptyDir: {} }] }));
  t.strictSame(statusOf(same).reusedVolumes, ['promtail-tmp']);
  t.equal(same.pod.spec.volumes?.filter((v) => v.name === 'promtail-tmp').length, 1);
  for (const volume of [{ name: 'promtail-tmp', emptyDir: { medium: 'Memory' } }, { name: 'promtail-tmp', hostPath: { path: '/tmp' } }]) {
    expectRefused(t, inject(makePod({ annotations: alloy, volumes: [volume] })), 'volume_conflict', 'volume "promtail-tmp" already exists and differs from the one sre-quero adds', OPT_OUT_HINT);
  }
  const promtail = injected(t, makePod({ volumes: [{ name: 'promtail-tmp', hostPath: { path: '/tmp' } }] }));
  t.strictSame(statusOf(promtail).reusedVolumes, [], 'not a volume promtail pods get');
  t.strictSame(promtail.pod.spec.volumes?.[0], { name: 'promtail-tmp', hostPath: { path: '/tmp' } });
  const appTmp = injected(t, makePod({ annotations: alloy, volumes: [{ name: 'tmp', emptyDir: {} }], containers: [webContainer({ volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }] })] }));
  t.strictSame(containerOf(appTmp, 'web')?.volumeMounts, [{ name: 'tmp', mountPath: '/tmp' }, { name: 'shared-logs', mountPath: '/var/log/app' }], 'the app\'s own /tmp is its own: the sidecar mounts promtail-tmp in itself only');
});

t.test('a hand-written promtail container is a conflict whatever the agent, named in the message', async (t) => {
  expectRefused(
    t,
    inject(makePod({ annotations: { [AGENT]: 'alloy' }, containers: [webContainer(), { name: 'promtail', image: 'grafana/promtail:3.6.11' }] })),
    'container_conflict',
    'container "promtail" already exists; sre-quero adds its own alloy sidecar: remove the hand-written one',
  );
});

t.test('switching agents: an injected pod keeps its sidecar; new pods of the template get the new agent', async (t) => {
  const promtailPod = injected(t, makePod());
  const annotations = { ...promtailPod.pod.metadata?.annotations, [AGENT]: 'alloy' };
  const relabelled: PodTemplate = { ...promtailPod.pod, metadata: { ...promtailPod.pod.metadata, annotations } };
  t.match(inject(relabelled), { kind: 'skipped', reason: 'already_injected' }, 'a pod is injected once: its containers cannot change anyway');
  const next = injected(t, makePod({ annotations: { [AGENT]: 'alloy' } }));
  t.strictSame(sidecarOf(next), expectedAlloySidecar(), 'the rollout\'s new pod');
  t.match(inject(makePod(), 'annotated', { ...DEFAULT_SETTINGS, agent: 'alloy' }), { kind: 'injected', sidecar: { agent: 'alloy' } }, 'the same for a settings change');
});
