import t from 'tap';
import { controllerRef, restartHint, topOwner, type ObjectRef, type OwnedKind, type OwnerReads } from '../../src/cluster/owners.js';

// Who to restart for a pod: the top of its ownerReferences, through a fake of
// the one read it takes (a ReplicaSet's or a Job's own owner).

const rs = { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-7d9f', uid: 'rs-uid', controller: true };
const job = { apiVersion: 'batch/v1', kind: 'Job', name: 'nightly-29000', controller: true };

function reads(owners: Record<string, ObjectRef | undefined | Error>): OwnerReads & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    controllerOf: async (kind: OwnedKind, namespace: string, name: string) => {
      calls.push(`${kind} ${namespace}/${name}`);
      const owner = owners[`${kind}/${name}`];
      if (owner instanceof Error) throw owner;
      return owner;
    },
  };
}

t.test('controllerRef: the controller, else the first; malformed references passed over', async (t) => {
  t.same(controllerRef([{ apiVersion: 'v1', kind: 'Node', name: 'n1' }, rs]), { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-7d9f', uid: 'rs-uid' });
  t.same(controllerRef([{ kind: 'Thing', name: 'a' }]), { apiVersion: '', kind: 'Thing', name: 'a' }, 'no controller: the first, without an apiVersion');
  t.equal(controllerRef(undefined), undefined);
  t.equal(controllerRef('not a list'), undefined);
  t.equal(controllerRef([null, 7, { kind: 'ReplicaSet' }, { kind: 'ReplicaSet', name: '' }, { kind: 3, name: 'x' }]), undefined, 'nothing well formed');
  t.same(controllerRef([null, { kind: 'StatefulSet', name: 'db', uid: 5, controller: true }]), { apiVersion: '', kind: 'StatefulSet', name: 'db' }, 'a uid that is no string is left out');
});

t.test('topOwner: Deployment via ReplicaSet, CronJob via Job, the rest as they are, the pod itself when unowned', async (t) => {
  const api = reads({ 'ReplicaSet/web-7d9f': { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: 'd-uid' }, 'Job/nightly-29000': { apiVersion: 'batch/v1', kind: 'CronJob', name: 'nightly' } });
  t.same(await topOwner('shop', { name: 'web-7d9f-abc', ownerReferences: [rs] }, api), { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: 'd-uid' });
  t.same(await topOwner('shop', { name: 'nightly-29000-x', ownerReferences: [job] }, api), { apiVersion: 'batch/v1', kind: 'CronJob', name: 'nightly' });
  t.same(await topOwner('shop', { name: 'db-0', ownerReferences: [{ apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'db', controller: true }] }, api), { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'db' });
  t.same(await topOwner('shop', { name: 'lonely', uid: 'p-uid' }, api), { apiVersion: 'v1', kind: 'Pod', name: 'lonely', uid: 'p-uid' });
  t.equal(await topOwner('shop', {}, api), undefined, 'nothing to name');
  t.same(api.calls, ['ReplicaSet shop/web-7d9f', 'Job shop/nightly-29000'], 'a read only for ReplicaSets and Jobs');
});

t.test('topOwner: a ReplicaSet or Job of its own, another group, or a failed read leave the nearer owner', async (t) => {
  const api = reads({ 'ReplicaSet/web-7d9f': undefined, 'Job/nightly-29000': new Error('forbidden'), 'ReplicaSet/odd': { apiVersion: 'x/v1', kind: 'Rollout', name: 'odd' } });
  t.same(await topOwner('shop', { ownerReferences: [rs] }, api), { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-7d9f', uid: 'rs-uid' }, 'no owner: the ReplicaSet itself');
  t.same(await topOwner('shop', { ownerReferences: [job] }, api), { apiVersion: 'batch/v1', kind: 'Job', name: 'nightly-29000' }, 'read failed: the Job');
  t.same(await topOwner('shop', { ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'odd', controller: true }] }, api), { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'odd' }, 'owned by something else: the ReplicaSet');
  t.same(await topOwner('shop', { ownerReferences: [{ apiVersion: 'example.com/v1', kind: 'ReplicaSet', name: 'custom', controller: true }] }, api), { apiVersion: 'example.com/v1', kind: 'ReplicaSet', name: 'custom' }, 'a ReplicaSet of another group is not read');
  t.same(api.calls, ['ReplicaSet shop/web-7d9f', 'Job shop/nightly-29000', 'ReplicaSet shop/odd']);
});

t.test('restartHint: the command per kind', async (t) => {
  const hint = (kind: string) => restartHint({ apiVersion: 'x', kind, name: 'w' }, 'shop');
  t.equal(hint('Deployment'), 'kubectl rollout restart deployment/w -n shop');
  t.equal(hint('StatefulSet'), 'kubectl rollout restart statefulset/w -n shop');
  t.equal(hint('DaemonSet'), 'kubectl rollout restart daemonset/w -n shop');
  t.match(hint('CronJob'), /^nothing to restart: the next Job of cronjob\/w/);
  t.match(hint('Job'), /delete and create job\/w again/);
  t.match(hint('ReplicaSet'), /replicaset\/w creates new ones/);
  t.match(hint('Pod'), /^kubectl delete pod\/w -n shop, then create it again/);
  t.match(hint('Rollout'), /the way Rollout w replaces its pods/);
});
