import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
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
  t.equal(kubeConfigFor({ kind: 'kubeconfig', path, from: 'flag' }).getCurrentCluster()?.server, 'https://flag.example:6443');
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

t.test('kubeConfigFor: a kubeconfig that is missing, malformed or names no cluster is a coded error', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sq-kubeconfig-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const malformed = join(dir, 'malformed');
  writeFileSync(malformed, 'clusters: [unclosed\n');
  const empty = join(dir, 'empty');
  writeFileSync(empty, 'apiVersion: v1\nkind: Config\n');
  const cases: [Parameters<typeof kubeConfigFor>[0], RegExp][] = [
    [{ kind: 'kubeconfig', path: join(dir, 'missing'), from: 'environment' }, /^kubeconfig KUBECONFIG=.*missing: cannot be read: no such file$/],
    [{ kind: 'kubeconfig', path: malformed, from: 'flag' }, /^kubeconfig --kubeconfig .*malformed: cannot be read: /],
    [{ kind: 'kubeconfig', path: empty, from: 'flag' }, /^kubeconfig --kubeconfig .*empty: names no cluster to use \(current context "\(none\)"\)$/],
  ];
  for (const [source, message] of cases) {
    t.throws(() => kubeConfigFor(source), { code: 'SQ_KUBECONFIG_INVALID', message }, source.kind === 'kubeconfig' ? source.path : '');
  }
});

t.test('apiErrorMessage: the Status message of an API error, else the error itself', async (t) => {
  const { apiErrorMessage } = await import('../../src/reconciler/kube.js');
  t.equal(apiErrorMessage({ code: 409, body: JSON.stringify({ kind: 'Status', message: 'Apply failed with 1 conflict' }) }), 'Apply failed with 1 conflict');
  t.equal(apiErrorMessage({ code: 500, body: 'not json' }), 'not json');
  t.equal(apiErrorMessage({ code: 422, body: '{}' }), '{}');
  t.equal(apiErrorMessage(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })), 'connect ECONNREFUSED');
  t.equal(apiErrorMessage('plain'), 'plain');
  // undici (client-node 2): the reason is the cause.
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
  t.equal(apiErrorMessage(new TypeError('fetch failed', { cause: refused })), 'fetch failed: ECONNREFUSED');
  t.equal(apiErrorMessage(new TypeError('fetch failed', { cause: new Error('self-signed certificate') })), 'fetch failed: self-signed certificate');
  t.equal(apiErrorMessage(new Error('connect ECONNREFUSED', { cause: refused })), 'connect ECONNREFUSED', 'the cause not repeated');
});
