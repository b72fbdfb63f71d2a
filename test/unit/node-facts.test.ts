import t from 'tap';
import { NodeVersionTable } from '../../src/cluster/node-facts.js';

// Node facts are values: the admission routes keep answers per NodeFacts
// object, so an object handed out never changes, and a new one comes only
// when a version did.

t.test('the same object until a version changes; a new one, a copy, after', async (t) => {
  const table = new NodeVersionTable();
  const empty = table.facts();
  t.equal(empty.kubeletVersions.size, 0);
  t.equal(table.facts(), empty, 'nothing changed: the same object');

  table.set('n1', 'v1.37.2');
  table.set('n2', 'v1.33.0');
  const two = table.facts();
  t.not(two, empty);
  t.same([...two.kubeletVersions], [['n1', 'v1.37.2'], ['n2', 'v1.33.0']]);
  t.equal(empty.kubeletVersions.size, 0, 'the object handed out before is unchanged');
  t.ok(Object.isFrozen(two));

  table.set('n1', 'v1.37.2');
  t.equal(table.facts(), two, 'a status update with the same version: the same object');
  table.clear();
  table.set('n2', 'v1.33.0');
  table.set('n1', 'v1.37.2');
  t.equal(table.facts(), two, 'a relist that finds the same versions: the same object');

  table.set('n2', 'v1.34.1');
  const upgraded = table.facts();
  t.not(upgraded, two);
  t.equal(upgraded.kubeletVersions.get('n2'), 'v1.34.1');
  t.equal(two.kubeletVersions.get('n2'), 'v1.33.0', 'the earlier object still says what it said');

  table.set('n2', undefined);
  table.set('gone', undefined);
  const one = table.facts();
  t.same([...one.kubeletVersions], [['n1', 'v1.37.2']], 'a deleted node (or one without a version) is gone');
  table.set('gone', undefined);
  t.equal(table.facts(), one, 'deleting a node it does not know changes nothing');
  table.clear();
  table.clear();
  t.equal(table.facts().kubeletVersions.size, 0);
});
