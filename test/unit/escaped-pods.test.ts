import t from 'tap';
import { DEFAULT_SETTINGS, type InjectorSettings } from '../../src/injection/index.js';
import { escapedPods, escapeOf, INJECTION_NAMESPACE_SELECTOR, injectionModeOf, neverInjected } from '../../src/reconciler/escaped-pods.js';
import type { PodLike } from '../../src/reconciler/model.js';
import { slimNamespace, slimPod, slimUninjectedPod } from '../../src/reconciler/slim.js';

// "Pods that escaped": which running pods lack the sidecar their namespace
// asks for, or run another agent or image than the settings give now. Pure.

const SIDECAR = 'logging.sre-quero/sidecar';
const STATUS = 'logging.sre-quero/status';
const status = (fields: object = {}) => JSON.stringify({ agent: 'promtail', image: DEFAULT_SETTINGS.images.promtail, sidecarMode: 'classic', ...fields });

function pod(name: string, extra: { annotations?: Record<string, string>; phase?: string; owner?: object; windows?: boolean; deleting?: boolean } = {}): PodLike {
  return {
    metadata: {
      name,
      namespace: 'shop',
      uid: `uid-${name}`,
      ...(extra.annotations ? { annotations: extra.annotations } : {}),
      ...(extra.owner ? { ownerReferences: [extra.owner as never] } : {}),
      ...(extra.deleting ? { deletionTimestamp: '2026-11-23T00:00:00Z' } : {}),
    },
    status: { phase: extra.phase ?? 'Running' },
    ...(extra.windows ? { spec: { os: { name: 'windows' } } } : {}),
  };
}

t.test('a running pod without the sidecar escaped in an enabled or enforced namespace, not elsewhere', async (t) => {
  for (const mode of ['enabled', 'enforced'] as const) {
    t.match(escapeOf(pod('web'), mode, DEFAULT_SETTINGS), { reason: 'missing_sidecar', detail: new RegExp(`logging.sre-quero/injection=${mode}\\): it was created before the label`) }, mode);
  }
  t.equal(escapeOf(pod('web'), undefined, DEFAULT_SETTINGS), undefined, 'a namespace that does not ask for every pod');
});

t.test('pods that are rightly without it: opted out (enabled only), Windows, not running, going away, static', async (t) => {
  const optOut = pod('out', { annotations: { [SIDECAR]: 'false' } });
  t.equal(escapeOf(optOut, 'enabled', DEFAULT_SETTINGS), undefined, 'opt-out honoured where enabled');
  t.match(escapeOf(optOut, 'enforced', DEFAULT_SETTINGS), { reason: 'missing_sidecar' }, 'not where enforced');
  t.match(escapeOf(pod('odd', { annotations: { [SIDECAR]: 'maybe' } }), 'enabled', DEFAULT_SETTINGS), { reason: 'missing_sidecar' }, 'an unreadable opt-out is no opt-out');
  t.equal(escapeOf(pod('win', { windows: true }), 'enforced', DEFAULT_SETTINGS), undefined);
  t.equal(escapeOf(pod('done', { phase: 'Succeeded' }), 'enabled', DEFAULT_SETTINGS), undefined);
  t.equal(escapeOf(pod('pending', { phase: 'Pending' }), 'enabled', DEFAULT_SETTINGS), undefined);
  t.equal(escapeOf(pod('gone', { deleting: true }), 'enabled', DEFAULT_SETTINGS), undefined);
  t.equal(escapeOf(pod('static', { owner: { apiVersion: 'v1', kind: 'Node', name: 'node-1', controller: true } }), 'enabled', DEFAULT_SETTINGS), undefined);
  t.equal(escapeOf({ metadata: {}, status: { phase: 'Running' } }, 'enabled', DEFAULT_SETTINGS), undefined, 'no name');
});

t.test('an injected pod running another agent or image than the settings give now, in any namespace', async (t) => {
  const current = pod('ok', { annotations: { [STATUS]: status() } });
  t.equal(escapeOf(current, undefined, DEFAULT_SETTINGS), undefined);
  t.equal(escapeOf(current, 'enforced', DEFAULT_SETTINGS), undefined);
  t.same(escapeOf(pod('old', { annotations: { [STATUS]: status({ image: 'grafana/promtail:3.0.0' }) } }), undefined, DEFAULT_SETTINGS), {
    reason: 'outdated_image',
    detail: `runs the sidecar image grafana/promtail:3.0.0; the settings give ${DEFAULT_SETTINGS.images.promtail} now`,
  });
  const alloy: InjectorSettings = { ...DEFAULT_SETTINGS, agent: 'alloy' };
  t.same(escapeOf(current, 'enabled', alloy), { reason: 'outdated_agent', detail: 'runs the promtail sidecar; the settings give alloy now' });
  t.equal(escapeOf(pod('asks', { annotations: { [STATUS]: status(), 'logging.sre-quero/agent': 'promtail' } }), 'enabled', alloy), undefined, 'its own agent annotation chose promtail');
  const pinned = pod('pinned', { annotations: { [STATUS]: status({ image: 'grafana/promtail:3.6.10' }), 'logging.sre-quero/image': 'grafana/promtail:3.6.10' } });
  t.equal(escapeOf(pinned, undefined, DEFAULT_SETTINGS), undefined, 'an image its annotation chose is not out of date');
  const refusedNow = pod('refused', { annotations: { [STATUS]: status({ image: 'x/y:1' }), 'logging.sre-quero/agent': 'vector' } });
  t.equal(escapeOf(refusedNow, undefined, DEFAULT_SETTINGS), undefined, 'a pod the webhook would refuse now is for explain, not this report');
  t.equal(escapeOf(pod('noimage', { annotations: { [STATUS]: '{"agent":"promtail"}' } }), undefined, DEFAULT_SETTINGS), undefined, 'a status without an image: nothing to compare');
});

t.test('escapedPods: name, namespace, uid, controller and why, in order', async (t) => {
  const owner = { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-7d9f', controller: true };
  t.same(escapedPods([pod('a', { owner }), pod('b', { annotations: { [SIDECAR]: 'false' } }), { metadata: { name: 'c' }, status: { phase: 'Running' } }], 'enabled', DEFAULT_SETTINGS), [
    { name: 'a', namespace: 'shop', uid: 'uid-a', owner: { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-7d9f' }, reason: 'missing_sidecar', detail: (escapeOf(pod('a'), 'enabled', DEFAULT_SETTINGS) as { detail: string }).detail },
    { name: 'c', namespace: '', reason: 'missing_sidecar', detail: (escapeOf(pod('a'), 'enabled', DEFAULT_SETTINGS) as { detail: string }).detail },
  ]);
});

t.test('namespace modes, the selector, and the namespaces never sent to the webhook', async (t) => {
  t.equal(injectionModeOf({ 'logging.sre-quero/injection': 'enabled' }), 'enabled');
  t.equal(injectionModeOf({ 'logging.sre-quero/injection': 'enforced' }), 'enforced');
  t.equal(injectionModeOf({ 'logging.sre-quero/injection': 'disabled' }), undefined);
  t.equal(injectionModeOf(undefined), undefined);
  t.equal(INJECTION_NAMESPACE_SELECTOR, 'logging.sre-quero/injection in (enabled,enforced)');
  t.ok(neverInjected('kube-system', 'sre-quero'));
  t.ok(neverInjected('platform-logging', 'platform-logging'));
  t.notOk(neverInjected('shop', 'sre-quero'));
});

t.test('the informers keep what the detection reads, and nothing else', async (t) => {
  const full = {
    metadata: {
      name: 'web-1',
      namespace: 'shop',
      uid: 'u1',
      resourceVersion: '7',
      labels: { app: 'web', 'logging.sre-quero/injected': 'true' },
      annotations: { [STATUS]: status(), [SIDECAR]: 'true', 'logging.sre-quero/image': 'grafana/promtail:3.6.11', 'kubectl.kubernetes.io/last-applied-configuration': '{...}' },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-7d9f', uid: 'rs', controller: true, blockOwnerDeletion: true }],
      managedFields: [{ manager: 'kubelet' }],
      creationTimestamp: '2026-11-23T00:00:00Z',
    },
    spec: { containers: [{ name: 'web' }], os: { name: 'linux' } },
    status: { phase: 'Running', podIP: '10.0.0.7', conditions: [] },
  };
  t.same(slimPod(full as never), {
    metadata: {
      name: 'web-1',
      namespace: 'shop',
      uid: 'u1',
      resourceVersion: '7',
      annotations: { [STATUS]: status(), 'logging.sre-quero/image': 'grafana/promtail:3.6.11' },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-7d9f', controller: true }],
      labels: { app: 'web', 'logging.sre-quero/injected': 'true' },
      creationTimestamp: '2026-11-23T00:00:00Z',
    },
    status: { phase: 'Running', podIP: '10.0.0.7' },
  });
  t.same(slimUninjectedPod({ ...full, spec: { ...full.spec, os: { name: 'windows' } } } as never), {
    metadata: {
      name: 'web-1',
      namespace: 'shop',
      uid: 'u1',
      resourceVersion: '7',
      annotations: { [SIDECAR]: 'true', [STATUS]: status(), 'logging.sre-quero/image': 'grafana/promtail:3.6.11' },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-7d9f', controller: true }],
    },
    status: { phase: 'Running' },
    spec: { os: { name: 'windows' } },
  });
  t.same(slimUninjectedPod({ metadata: { name: 'bare', ownerReferences: [{}] } } as never), { metadata: { name: 'bare', ownerReferences: [{ controller: true }] } });
  t.same(slimPod({ metadata: { name: 'bare' } } as never), { metadata: { name: 'bare' } });
  t.same(slimNamespace({ metadata: { name: 'shop', resourceVersion: '3', labels: { 'logging.sre-quero/injection': 'enabled', team: 'a' } } } as never), {
    metadata: { name: 'shop', resourceVersion: '3', labels: { 'logging.sre-quero/injection': 'enabled' } },
  });
  t.same(slimNamespace({ metadata: { name: 'plain' } } as never), { metadata: { name: 'plain' } });
});
