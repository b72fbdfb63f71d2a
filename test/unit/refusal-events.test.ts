import t from 'tap';
import { REFUSAL_EVENT_REASON, RefusalEvents, type RefusalEventResult, type RefusedPod } from '../../src/admission/refusal-events.js';
import type { EventsApi, ObjectEvent } from '../../src/cluster/events-api.js';
import { FakeClock } from '../helpers/fake-clock.js';

// Warning Events on the owners of refused pods: scheduled after the answer,
// rate-limited per owner and reason, bounded; against a fake API and clock.

const rsRef = (name = 'web-7d9f') => [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name, controller: true }];
const refused = (pod: RefusedPod['pod'], reason: RefusedPod['reason'] = 'invalid_annotation'): RefusedPod => ({
  namespace: 'shop',
  pod,
  reason,
  message: 'annotation logging.sre-quero/log-path: "/etc" is not valid',
});

function setup(options: { failEvents?: boolean; slowEvents?: boolean; maxKeys?: number; maxInFlight?: number } = {}) {
  const clock = new FakeClock();
  const events: ObjectEvent[] = [];
  const results: RefusalEventResult[] = [];
  const warnings: string[] = [];
  const reads: string[] = [];
  let release: (() => void) | undefined;
  const api: EventsApi = {
    controllerOf: async (kind, namespace, name) => {
      reads.push(`${kind} ${namespace}/${name}`);
      return { apiVersion: 'apps/v1', kind: 'Deployment', name: name.replace(/-[^-]+$/, ''), uid: 'd-uid' };
    },
    recordEvent: async (event) => {
      if (options.slowEvents) await new Promise<void>((resolve) => (release = resolve));
      if (options.failEvents) throw new Error('events is forbidden');
      events.push(event);
    },
  };
  const recorder = new RefusalEvents({
    api,
    clock,
    onResult: (result) => results.push(result),
    log: { warn: (_fields, message) => warnings.push(message) },
    ...(options.maxKeys === undefined ? {} : { maxKeys: options.maxKeys }),
    ...(options.maxInFlight === undefined ? {} : { maxInFlight: options.maxInFlight }),
  });
  return { clock, events, results, warnings, reads, recorder, release: () => release?.() };
}

t.test('report() only schedules: the Event goes out on a later turn, on the Deployment behind the ReplicaSet', async (t) => {
  const { clock, events, results, reads, recorder } = setup();
  recorder.report(refused({ generateName: 'web-7d9f-', ownerReferences: rsRef() }));
  t.same(events, [], 'nothing during report()');
  t.same(reads, [], 'no API read during report()');
  t.equal(clock.pendingTimers(), 1);
  await clock.advance(0);
  await recorder.idle();
  t.same(reads, ['ReplicaSet shop/web-7d9f']);
  t.same(events, [
    {
      namespace: 'shop',
      involvedObject: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: 'd-uid' },
      type: 'Warning',
      reason: REFUSAL_EVENT_REASON,
      message:
        'sre-quero refused a pod of this Deployment (invalid_annotation): annotation logging.sre-quero/log-path: "/etc" is not valid (sre-quero explain deployment web -n shop says more)',
    },
  ]);
  t.same(results, ['sent']);
});

t.test('one Event per owner and reason per 10 minutes; another reason or owner is its own', async (t) => {
  const { clock, events, results, recorder } = setup();
  const send = async (pod: RefusedPod['pod'], reason: RefusedPod['reason'] = 'invalid_annotation') => {
    recorder.report(refused(pod, reason));
    await clock.advance(0);
    await recorder.idle();
  };
  await send({ generateName: 'web-7d9f-', ownerReferences: rsRef() });
  await send({ generateName: 'web-7d9f-', ownerReferences: rsRef() });
  await send({ generateName: 'web-7d9f-', ownerReferences: rsRef() }, 'port_conflict');
  await send({ generateName: 'api-1a2b-', ownerReferences: rsRef('api-1a2b') });
  t.same(results, ['sent', 'rate_limited', 'sent', 'sent']);
  await clock.advance(10 * 60_000 - 1);
  await send({ generateName: 'web-7d9f-', ownerReferences: rsRef() });
  t.equal(results.at(-1), 'rate_limited', 'still within the interval');
  await clock.advance(1);
  await send({ generateName: 'web-7d9f-', ownerReferences: rsRef() });
  t.equal(results.at(-1), 'sent', 'the interval is over');
  t.equal(events.length, 4);
});

t.test('a bare pod: the Event is on the pod (which was never stored); nothing to name: dropped', async (t) => {
  const { clock, events, results, recorder } = setup();
  recorder.report(refused({ name: 'lonely', uid: 'p-uid' }, 'needs_native_sidecar'));
  recorder.report(refused({}));
  await clock.advance(0);
  await recorder.idle();
  t.same(results, ['dropped', 'sent']);
  t.match(events[0], { involvedObject: { apiVersion: 'v1', kind: 'Pod', name: 'lonely', uid: 'p-uid' }, message: /^sre-quero refused this pod \(needs_native_sidecar\): .* \(sre-quero explain -f <its manifest> says more\)$/ });
});

t.test('a failed Event is counted and logged, and rate-limited like a sent one', async (t) => {
  const { clock, results, warnings, recorder } = setup({ failEvents: true });
  recorder.report(refused({ name: 'p', ownerReferences: [{ apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'db', controller: true }] }));
  await clock.advance(0);
  await recorder.idle();
  recorder.report(refused({ name: 'p', ownerReferences: [{ apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'db', controller: true }] }));
  t.same(results, ['failed', 'rate_limited']);
  t.same(warnings, ['could not record the refusal event']);
});

t.test('bounded: too many on their way are dropped; the oldest keys are forgotten first', async (t) => {
  const { clock, results, recorder, release } = setup({ slowEvents: true, maxInFlight: 1, maxKeys: 2 });
  const sendOne = async (name: string) => {
    recorder.report(refused({ name }));
    await clock.advance(0);
    await new Promise((resolve) => setImmediate(resolve));
    release();
    await recorder.idle();
  };
  recorder.report(refused({ name: 'a' }));
  recorder.report(refused({ name: 'b' }));
  t.same(results, ['dropped'], 'b while a is on its way');
  await clock.advance(0);
  await new Promise((resolve) => setImmediate(resolve));
  release();
  await recorder.idle();
  t.same(results, ['dropped', 'sent']);
  await sendOne('b');
  await sendOne('c');
  t.same(results.slice(2), ['sent', 'sent']);
  await sendOne('a');
  t.equal(results.at(-1), 'sent', 'a was forgotten (two keys kept: b and c): sent again within the interval');
  recorder.report(refused({ name: 'c' }));
  t.equal(results.at(-1), 'rate_limited', 'c is still remembered');
});
