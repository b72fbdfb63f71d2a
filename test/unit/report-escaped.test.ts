import t from 'tap';
import type { EventsApi, ObjectEvent } from '../../src/cluster/events-api.js';
import { DEFAULT_SETTINGS } from '../../src/injection/index.js';
import type { InjectionMode } from '../../src/reconciler/escaped-pods.js';
import type { PodLike } from '../../src/reconciler/model.js';
import { EscapedPodsReporter } from '../../src/reconciler/report-escaped.js';
import { FakeClock } from '../helpers/fake-clock.js';

// One namespace's escaped pods reported against fake caches, API, gauge and
// clock: the gauge follows the caches, each pod gets one Event (not one per
// resync), at a bounded rate.

const STATUS = 'logging.sre-quero/status';
const rs = (name: string) => ({ apiVersion: 'apps/v1', kind: 'ReplicaSet', name, controller: true });

function running(name: string, extra: { annotations?: Record<string, string>; owner?: object; namespace?: string } = {}): PodLike {
  return {
    metadata: { name, namespace: extra.namespace ?? 'shop', uid: `uid-${name}`, ...(extra.annotations ? { annotations: extra.annotations } : {}), ...(extra.owner ? { ownerReferences: [extra.owner as never] } : {}) },
    status: { phase: 'Running' },
  };
}
const outdated = (name: string) => running(name, { annotations: { [STATUS]: JSON.stringify({ agent: 'promtail', image: 'grafana/promtail:3.0.0' }) } });

function setup(options: { eventsPerSecond?: number; eventBurst?: number; failEvents?: boolean } = {}) {
  const state = { modes: new Map<string, InjectionMode>([['shop', 'enabled']]), uninjected: [] as PodLike[], injected: [] as PodLike[] };
  const clock = new FakeClock();
  const events: ObjectEvent[] = [];
  const reads: string[] = [];
  const gauge = new Map<string, number>();
  const requeued: [string, number][] = [];
  const logs: string[] = [];
  const api: EventsApi = {
    controllerOf: async (kind, namespace, name) => {
      reads.push(`${kind} ${namespace}/${name}`);
      if (name === 'broken') throw new Error('forbidden');
      return { apiVersion: 'apps/v1', kind: 'Deployment', name: name.replace(/-[^-]+$/, '') };
    },
    recordEvent: async (event) => {
      if (options.failEvents) throw new Error('events is forbidden');
      events.push(event);
    },
  };
  const inNamespace = (pods: PodLike[], namespace: string) => pods.filter((pod) => (pod.metadata?.namespace ?? '') === namespace);
  const reporter = new EscapedPodsReporter({
    caches: {
      injectionMode: (namespace) => state.modes.get(namespace),
      uninjectedPods: (namespace) => inNamespace(state.uninjected, namespace),
      injectedPods: (namespace) => inNamespace(state.injected, namespace),
    },
    api,
    settings: DEFAULT_SETTINGS,
    clock,
    gauge: {
      set: ({ namespace, reason }, value) => gauge.set(`${namespace}/${reason}`, value),
      remove: ({ namespace, reason }) => gauge.delete(`${namespace}/${reason}`),
    },
    requeueAfter: (namespace, ms) => requeued.push([namespace, ms]),
    log: { info: (_f, message) => logs.push(`info ${message}`), warn: (_f, message) => logs.push(`warn ${message}`) },
    ...options,
  });
  return { state, clock, events, reads, gauge, requeued, logs, reporter };
}

t.test('missing and outdated pods: the gauge per namespace and reason, and one Event each, with the fix', async (t) => {
  const { state, events, gauge, reporter, logs } = setup();
  state.uninjected = [running('web-7d9f-a', { owner: rs('web-7d9f') }), running('web-7d9f-b', { owner: rs('web-7d9f') }), running('lonely')];
  state.injected = [outdated('api-1')];
  await reporter.reconcile('shop');
  t.same(Object.fromEntries(gauge), { 'shop/missing_sidecar': 3, 'shop/outdated_image': 1 });
  t.equal(events.length, 4);
  t.match(events[0], {
    namespace: 'shop',
    involvedObject: { apiVersion: 'v1', kind: 'Pod', name: 'web-7d9f-a', uid: 'uid-web-7d9f-a' },
    type: 'Warning',
    reason: 'LoggingSidecarMissing',
    message: /^This pod runs without the logging sidecar .*: kubectl rollout restart deployment\/web -n shop\. \(sre-quero explain cluster lists every such pod\.\)$/,
  });
  t.match(events[2], { involvedObject: { name: 'lonely' }, message: /kubectl delete pod\/lonely -n shop, then create it again/ });
  t.match(events[3], { involvedObject: { name: 'api-1' }, type: 'Normal', reason: 'LoggingSidecarOutdated', message: /^This pod runs the sidecar image grafana\/promtail:3\.0\.0; the settings give/ });
  t.equal(logs.filter((line) => line === 'info escaped pod reported').length, 4);
});

t.test('told once per pod: a resync tells nothing new; a pod that is fixed leaves the gauge; a new one is told', async (t) => {
  const { state, events, reads, gauge, reporter } = setup();
  state.uninjected = [running('web-7d9f-a', { owner: rs('web-7d9f') }), running('web-7d9f-b', { owner: rs('web-7d9f') })];
  await reporter.reconcile('shop');
  await reporter.reconcile('shop');
  t.equal(events.length, 2, 'no Event at the second reconcile');
  t.same(reads, ['ReplicaSet shop/web-7d9f'], "the ReplicaSet's owner read once");
  state.uninjected = [running('web-7d9f-b', { owner: rs('web-7d9f') }), running('web-7d9f-c', { owner: rs('web-7d9f') })];
  await reporter.reconcile('shop');
  t.same(events.map((e) => e.involvedObject.name), ['web-7d9f-a', 'web-7d9f-b', 'web-7d9f-c']);
  state.uninjected = [];
  await reporter.reconcile('shop');
  t.same(Object.fromEntries(gauge), {}, 'none left: the series is removed');
  state.uninjected = [running('web-7d9f-b', { owner: rs('web-7d9f') })];
  await reporter.reconcile('shop');
  t.equal(events.length, 4, 'escaped again after it was gone from the report: told again');
});

t.test('a namespace that stops asking for injection: its uninjected pods no longer count', async (t) => {
  const { state, gauge, reporter } = setup();
  state.uninjected = [running('a')];
  await reporter.reconcile('shop');
  t.same(Object.fromEntries(gauge), { 'shop/missing_sidecar': 1 });
  state.modes.delete('shop');
  await reporter.reconcile('shop');
  t.same(Object.fromEntries(gauge), {});
  reporter.forgetAll();
});

t.test('Events at a bounded rate: the rest are told when the namespace comes round again', async (t) => {
  const { state, clock, events, requeued, reporter } = setup({ eventsPerSecond: 1, eventBurst: 2 });
  state.injected = ['a', 'b', 'c', 'd'].map(outdated);
  await reporter.reconcile('shop');
  t.equal(events.length, 2, 'the burst');
  t.same(requeued, [['shop', 2000]], 'queued again');
  await reporter.reconcile('shop');
  t.equal(events.length, 2, 'no token yet');
  await clock.advance(1000);
  await reporter.reconcile('shop');
  t.equal(events.length, 3);
  await clock.advance(5000);
  await reporter.reconcile('shop');
  t.same(events.map((e) => e.involvedObject.name), ['a', 'b', 'c', 'd']);
});

t.test('a failed Event is logged once, not retried at every reconcile; a failed owner read leaves the ReplicaSet', async (t) => {
  const { state, logs, reporter } = setup({ failEvents: true });
  state.uninjected = [running('x-1', { owner: rs('broken') })];
  await reporter.reconcile('shop');
  await reporter.reconcile('shop');
  t.same(logs, ['warn could not record the escaped pod event']);
  const ok = setup();
  ok.state.uninjected = [running('x-1', { owner: rs('broken') })];
  await ok.reporter.reconcile('shop');
  t.match(ok.events[0]?.message, /delete its pods \(kubectl delete pod <name> -n shop\): replicaset\/broken creates new ones/);
});

t.test('a pod in both caches (its label changed by hand) counts once', async (t) => {
  const { state, gauge, events, reporter } = setup();
  state.uninjected = [running('a')];
  state.injected = [running('a')];
  await reporter.reconcile('shop');
  t.same(Object.fromEntries(gauge), { 'shop/missing_sidecar': 1 });
  t.equal(events.length, 1);
});
