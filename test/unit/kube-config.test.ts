import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { findKubeConfig } from '../../src/reconciler/kube.js';

const kubeconfig = (server: string): string => {
  const path = join(mkdtempSync(join(tmpdir(), 'sq-kc-')), 'config');
  writeFileSync(
    path,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'c', cluster: { server } }],
      users: [{ name: 'u', user: { token: 't' } }],
      contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
      'current-context': 'x',
    }),
  );
  return path;
};

t.test('findKubeConfig: flag first, then in-cluster, then KUBECONFIG, else none', async (t) => {
  const fromFlag = kubeconfig('https://flag.example:6443');
  const fromEnv = kubeconfig('https://env.example:6443');
  t.equal(findKubeConfig({ kubeconfig: fromFlag, env: { KUBECONFIG: fromEnv } })?.getCurrentCluster()?.server, 'https://flag.example:6443');
  t.equal(findKubeConfig({ kubeconfig: undefined, env: { KUBECONFIG: fromEnv } })?.getCurrentCluster()?.server, 'https://env.example:6443');
  // In a pod the service-account token file exists; here it does not, so the env var alone is not enough.
  t.equal(findKubeConfig({ kubeconfig: undefined, env: { KUBERNETES_SERVICE_HOST: '10.0.0.1' } }), undefined);
  t.equal(findKubeConfig({ kubeconfig: undefined, env: {} }), undefined);
});

t.test('apiErrorMessage: the Status message of an API error, else the error itself', async (t) => {
  const { apiErrorMessage } = await import('../../src/reconciler/kube.js');
  t.equal(apiErrorMessage({ code: 409, body: JSON.stringify({ kind: 'Status', message: 'Apply failed with 1 conflict' }) }), 'Apply failed with 1 conflict');
  t.equal(apiErrorMessage({ code: 500, body: 'not json' }), 'not json');
  t.equal(apiErrorMessage({ code: 422, body: '{}' }), '{}');
  t.equal(apiErrorMessage(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })), 'connect ECONNREFUSED');
  t.equal(apiErrorMessage('plain'), 'plain');
});
