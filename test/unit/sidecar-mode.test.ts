import t from 'tap';
import { chooseAutoMode, parseKubeletVersion } from '../../src/injection/sidecar-mode.js';

t.test('parseKubeletVersion reads what kubelets report', async (t) => {
  t.same(parseKubeletVersion('v1.33.2'), { major: 1, minor: 33 });
  t.same(parseKubeletVersion('v1.34.1-eks-6a1b2c3'), { major: 1, minor: 34 });
  t.same(parseKubeletVersion('v1.31.4+k3s1'), { major: 1, minor: 31 });
  t.same(parseKubeletVersion('1.30'), { major: 1, minor: 30 });
  t.equal(parseKubeletVersion(''), undefined);
  t.equal(parseKubeletVersion('latest'), undefined);
  t.equal(parseKubeletVersion('v1'), undefined);
});

t.test('chooseAutoMode: the cut-off is 1.33 (stable native sidecars)', async (t) => {
  const only = (version: string) => chooseAutoMode({ kubeletVersions: new Map([['n', version]]) }, undefined);
  t.same(only('v1.32.12'), { mode: 'classic', reason: 'node_too_old' });
  t.same(only('v1.33.0'), { mode: 'native', reason: 'nodes_support_native' });
  t.same(only('v2.0.0'), { mode: 'native', reason: 'nodes_support_native' });
  t.same(only('v0.99.0'), { mode: 'classic', reason: 'node_too_old' });
});
