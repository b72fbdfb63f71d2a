// Request bodies for the benchmarks: the recipe review from the test fixtures
// as is, and a large pod built from it.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const RECIPE_PATH = fileURLToPath(new URL('../test/fixtures/reviews/simple-webapp.v1.json', import.meta.url));

/** The recipe AdmissionReview exactly as the fixture file has it. */
export function recipeBody(): string {
  return readFileSync(RECIPE_PATH, 'utf8');
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

const CONTAINER_NAMES = [
  'web',
  'api',
  'worker',
  'scheduler',
  'cache-warmer',
  'metrics-exporter',
  'auth-proxy',
  'queue-consumer',
  'indexer',
  'mailer',
];

const TOKEN_VOLUME = 'default-token-7x2kq';
const k = (fields: JsonObject): string => `k:${JSON.stringify(fields)}`;
const set = (keys: readonly string[]): JsonObject => Object.fromEntries([['.', {}], ...keys.map((key) => [`f:${key}`, {}])]);

function container(name: string, i: number): JsonObject {
  return {
    name,
    image: `registry.example.com/shop/${name}:1.${i}.${i * 3}`,
    command: [`/usr/local/bin/${name}`],
    args: ['--config=/etc/app/config.yaml', `--listen=:${8000 + i}`, '--log-format=json', '--log-dir=/var/log/app'],
    ports: [
      { name: 'http', containerPort: 8000 + i, protocol: 'TCP' },
      { name: 'grpc', containerPort: 9000 + i, protocol: 'TCP' },
      { name: 'admin', containerPort: 7000 + i, protocol: 'TCP' },
    ],
    env: [
      { name: 'APP_NAME', value: name },
      { name: 'APP_ENV', value: 'production' },
      { name: 'LOG_LEVEL', value: 'info' },
      { name: 'GOMAXPROCS', valueFrom: { resourceFieldRef: { containerName: name, resource: 'limits.cpu', divisor: '1' } } },
      { name: 'POD_IP', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'status.podIP' } } },
      { name: 'DATABASE_URL', valueFrom: { secretKeyRef: { name: 'shop-db', key: 'url' } } },
      { name: 'FEATURE_FLAGS', valueFrom: { configMapKeyRef: { name: `${name}-flags`, key: 'flags', optional: true } } },
      { name: 'OTEL_EXPORTER_OTLP_ENDPOINT', value: 'http://otel-collector.observability.svc:4317' },
    ],
    resources: {
      requests: { cpu: `${100 + i * 10}m`, memory: `${128 + i * 16}Mi` },
      limits: { cpu: '1', memory: `${256 + i * 32}Mi` },
    },
    volumeMounts: [
      { name: TOKEN_VOLUME, readOnly: true, mountPath: '/var/run/secrets/kubernetes.io/serviceaccount' },
      { name: `config-${name}`, readOnly: true, mountPath: '/etc/app' },
      { name: `data-${name}`, mountPath: `/var/lib/${name}` },
      { name: 'tmp', mountPath: '/tmp' },
    ],
    livenessProbe: {
      httpGet: { path: '/healthz', port: 'http', scheme: 'HTTP' },
      initialDelaySeconds: 10,
      timeoutSeconds: 1,
      periodSeconds: 10,
      successThreshold: 1,
      failureThreshold: 3,
    },
    readinessProbe: {
      httpGet: { path: '/readyz', port: 'http', scheme: 'HTTP' },
      timeoutSeconds: 1,
      periodSeconds: 5,
      successThreshold: 1,
      failureThreshold: 3,
    },
    securityContext: {
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      runAsUser: 1000 + i,
    },
    terminationMessagePath: '/dev/termination-log',
    terminationMessagePolicy: 'File',
    imagePullPolicy: 'IfNotPresent',
  };
}

function volumes(): JsonObject[] {
  const list: JsonObject[] = [{ name: TOKEN_VOLUME, secret: { secretName: TOKEN_VOLUME, defaultMode: 420 } }];
  for (const name of CONTAINER_NAMES) {
    list.push({ name: `config-${name}`, configMap: { name: `${name}-config`, defaultMode: 420 } });
    list.push({ name: `data-${name}`, emptyDir: { sizeLimit: '1Gi' } });
  }
  list.push(
    { name: 'tmp', emptyDir: { medium: 'Memory', sizeLimit: '64Mi' } },
    { name: 'tls', secret: { secretName: 'shop-tls', defaultMode: 256 } },
    { name: 'ca-bundle', configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }], defaultMode: 420 } },
    { name: 'podinfo', downwardAPI: { items: [{ path: 'labels', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.labels' } }], defaultMode: 420 } },
    {
      name: 'kube-api-access',
      projected: {
        sources: [
          { serviceAccountToken: { expirationSeconds: 3607, path: 'token' } },
          { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
          { downwardAPI: { items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }] } },
        ],
        defaultMode: 420,
      },
    },
    { name: 'uploads', persistentVolumeClaim: { claimName: 'shop-uploads' } },
    { name: 'geoip', persistentVolumeClaim: { claimName: 'geoip-db', readOnly: true } },
    { name: 'nginx-cache', emptyDir: {} },
    { name: 'feature-flags', configMap: { name: 'feature-flags', optional: true, defaultMode: 420 } },
  );
  return list;
}

function annotations(lastApplied: string): Record<string, string> {
  const list: Record<string, string> = {
    'kubectl.kubernetes.io/last-applied-configuration': lastApplied,
    'kubectl.kubernetes.io/default-container': 'web',
    'prometheus.io/scrape': 'true',
    'prometheus.io/port': '8000',
    'prometheus.io/path': '/metrics',
    'cluster-autoscaler.kubernetes.io/safe-to-evict': 'true',
    'seccomp.security.alpha.kubernetes.io/pod': 'runtime/default',
    'app.example.com/owner': 'team-shop@example.com',
    'app.example.com/runbook': 'https://runbooks.example.com/shop/webapp',
    'app.example.com/oncall': 'shop-primary',
    'app.example.com/git-sha': '3f1c9e2b7d4a8f60b5e1c2d3a4b5c6d7e8f90a1b',
    'app.example.com/build': 'https://ci.example.com/shop/webapp/builds/48213',
  };
  for (const name of CONTAINER_NAMES) {
    list[`checksum/config-${name}`] = '9f2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f809';
    list[`vault.example.com/role-${name}`] = `shop-${name}`;
  }
  for (let i = 0; Object.keys(list).length < 40; i++) list[`example.com/note-${i}`] = `free-form note number ${i} for this pod`;
  return list;
}

function managedFields(pod: JsonObject, annotationKeys: readonly string[], labelKeys: readonly string[]): JsonObject[] {
  const spec = pod.spec as JsonObject;
  const containers: JsonObject = { '.': {} };
  for (const c of spec.containers as JsonObject[]) {
    const ports: JsonObject = { '.': {} };
    for (const p of c.ports as JsonObject[]) {
      ports[k({ containerPort: p.containerPort as number, protocol: 'TCP' })] = set(['containerPort', 'name', 'protocol']);
    }
    const env: JsonObject = { '.': {} };
    for (const e of c.env as JsonObject[]) env[k({ name: e.name as string })] = set(['name', e.value === undefined ? 'valueFrom' : 'value']);
    const mounts: JsonObject = { '.': {} };
    for (const m of c.volumeMounts as JsonObject[]) {
      mounts[k({ mountPath: m.mountPath as string })] = set(m.readOnly === undefined ? ['mountPath', 'name'] : ['mountPath', 'name', 'readOnly']);
    }
    containers[k({ name: c.name as string })] = {
      ...set(['args', 'command', 'image', 'imagePullPolicy', 'name', 'terminationMessagePath', 'terminationMessagePolicy']),
      'f:env': env,
      'f:ports': ports,
      'f:volumeMounts': mounts,
      'f:livenessProbe': { '.': {}, 'f:httpGet': set(['path', 'port', 'scheme']), ...set(['failureThreshold', 'initialDelaySeconds', 'periodSeconds']) },
      'f:readinessProbe': { '.': {}, 'f:httpGet': set(['path', 'port', 'scheme']), ...set(['failureThreshold', 'periodSeconds']) },
      'f:resources': { '.': {}, 'f:limits': set(['cpu', 'memory']), 'f:requests': set(['cpu', 'memory']) },
      'f:securityContext': { ...set(['allowPrivilegeEscalation', 'readOnlyRootFilesystem', 'runAsNonRoot', 'runAsUser']), 'f:capabilities': set(['drop']) },
    };
  }
  const vols: JsonObject = { '.': {} };
  for (const v of spec.volumes as JsonObject[]) {
    const source = Object.keys(v).find((key) => key !== 'name') ?? 'emptyDir';
    vols[k({ name: v.name as string })] = { ...set(['name']), [`f:${source}`]: set(Object.keys(v[source] as JsonObject)) };
  }
  return [
    {
      manager: 'kubectl-client-side-apply',
      operation: 'Update',
      apiVersion: 'v1',
      time: '2026-11-21T09:00:00Z',
      fieldsType: 'FieldsV1',
      fieldsV1: {
        'f:metadata': { 'f:annotations': set(annotationKeys), 'f:labels': set(labelKeys) },
        'f:spec': {
          'f:containers': containers,
          'f:volumes': vols,
          ...set(['dnsPolicy', 'enableServiceLinks', 'restartPolicy', 'schedulerName', 'serviceAccountName', 'terminationGracePeriodSeconds']),
          'f:securityContext': set(['fsGroup', 'runAsNonRoot']),
        },
      },
    },
    {
      manager: 'kube-controller-manager',
      operation: 'Update',
      apiVersion: 'v1',
      time: '2026-11-21T09:00:01Z',
      fieldsType: 'FieldsV1',
      fieldsV1: {
        'f:metadata': { 'f:ownerReferences': { '.': {}, [k({ uid: '0d3f6a52-1c2b-4e8f-9a7d-5b6c7d8e9f01' })]: {} } },
      },
    },
  ];
}

export interface LargePodShape {
  containers: number;
  volumes: number;
  annotations: number;
}

/**
 * The recipe review with a large pod: 10 containers (3 ports, 8 env vars, 4
 * mounts, probes each), 30 volumes, 40 annotations plus the opt-in one, and
 * managedFields covering all of it, as kubectl apply leaves them.
 */
export function largeReview(): { body: string; shape: LargePodShape } {
  const review = JSON.parse(recipeBody()) as JsonObject;
  const request = review.request as JsonObject;
  const pod = request.object as JsonObject;
  const metadata = pod.metadata as JsonObject;
  const spec = pod.spec as JsonObject;

  spec.containers = CONTAINER_NAMES.map(container);
  spec.volumes = volumes();
  spec.securityContext = { fsGroup: 2000, runAsNonRoot: true };
  const labels: Record<string, string> = {
    app: 'main-application',
    'app.kubernetes.io/name': 'webapp',
    'app.kubernetes.io/instance': 'webapp-prod',
    'app.kubernetes.io/version': '1.9.3',
    'app.kubernetes.io/component': 'frontend',
    'app.kubernetes.io/part-of': 'shop',
    'app.kubernetes.io/managed-by': 'kubectl',
    'pod-template-hash': '7d9f8c6b5d',
  };
  metadata.labels = labels;
  metadata.ownerReferences = [
    {
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      name: 'simple-webapp-7d9f8c6b5d',
      uid: '0d3f6a52-1c2b-4e8f-9a7d-5b6c7d8e9f01',
      controller: true,
      blockOwnerDeletion: true,
    },
  ];
  // What kubectl apply records: the pod as written, before defaults and managedFields.
  const lastApplied = JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: metadata.name, namespace: metadata.namespace, labels }, spec });
  const podAnnotations: Record<string, string> = { ...annotations(lastApplied), 'logging.sre-quero/sidecar': 'true' };
  metadata.annotations = podAnnotations;
  metadata.managedFields = managedFields(pod, Object.keys(podAnnotations), Object.keys(labels));

  return {
    body: JSON.stringify(review),
    shape: {
      containers: (spec.containers as Json[]).length,
      volumes: (spec.volumes as Json[]).length,
      annotations: Object.keys(podAnnotations).length,
    },
  };
}
