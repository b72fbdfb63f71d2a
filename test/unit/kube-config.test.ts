import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { kubeConfigFor } from '../../src/reconciler/kube.js';
import { tempDir } from '../helpers/temp-dir.js';

const kubeconfig = (server: string): string => {
  const path = join(tempDir('kc'), 'config');
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

t.test('kubeConfigFor: loads the kubeconfig file config.ts found', async (t) => {
  const path = kubeconfig('https://flag.example:6443');
  t.equal(kubeConfigFor({ kind: 'kubeconfig', path }).getCurrentCluster()?.server, 'https://flag.example:6443');
  // In a pod, the API server comes from the service environment variables.
  const saved = { host: process.env.KUBERNETES_SERVICE_HOST, port: process.env.KUBERNETES_SERVICE_PORT };
  process.env.KUBERNETES_SERVICE_HOST = '10.9.8.7';
  process.env.KUBERNETES_SERVICE_PORT = '443';
  t.teardown(() => {
    for (const [key, value] of [['KUBERNETES_SERVICE_HOST', saved.host], ['KUBERNETES_SERVICE_PORT', saved.port]] as const) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  });
  t.equal(kubeConfigFor({ kind: 'in-cluster' }).getCurrentCluster()?.server, 'https://10.9.8.7:443');
});

t.test('apiErrorMessage: the Status message of an API error, else the error itself', async (t) => {
  const { apiErrorMessage } = await import('../../src/reconciler/kube.js');
  t.equal(apiErrorMessage({ code: 409, body: JSON.stringify({ kind: 'Status', message: 'Apply failed with 1 conflict' }) }), 'Apply failed with 1 conflict');
  t.equal(apiErrorMessage({ code: 500, body: 'not json' }), 'not json');
  t.equal(apiErrorMessage({ code: 422, body: '{}' }), '{}');
  t.equal(apiErrorMessage(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })), 'connect ECONNREFUSED');
  t.equal(apiErrorMessage('plain'), 'plain');
});
