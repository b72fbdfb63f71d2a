import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Identity } from './client.js';

// How the test clusters authenticate, the same for the per-file control
// planes and the cluster with a node: static bearer tokens (each identity a
// user with groups), RBAC, a service-account key pair, and a kubeconfig for
// the admin token.

/**
 * Writes tokens.csv, sa.key and sa.pub into `dir` and returns the
 * kube-apiserver flags that use them (the controller-manager signs tokens
 * with `serviceAccountKey`).
 */
export function writeApiserverAuth(dir: string, identities: readonly Identity[]): { args: string[]; serviceAccountKey: string } {
  const tokens = join(dir, 'tokens.csv');
  writeFileSync(tokens, identities.map((id, i) => `${id.token},${id.user},uid-${i},"${id.groups.join(',')}"`).join('\n') + '\n');
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const serviceAccountKey = join(dir, 'sa.key');
  writeFileSync(serviceAccountKey, privateKey.export({ type: 'pkcs1', format: 'pem' }));
  writeFileSync(join(dir, 'sa.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
  return {
    serviceAccountKey,
    args: [
      '--service-account-issuer=https://kubernetes.default.svc',
      `--service-account-key-file=${join(dir, 'sa.pub')}`,
      `--service-account-signing-key-file=${serviceAccountKey}`,
      `--token-auth-file=${tokens}`,
      '--authorization-mode=RBAC',
    ],
  };
}

/** A kubeconfig with one cluster, one token user and one context. */
export function writeKubeconfig(path: string, target: { name: string; server: string; caFile: string; token: string; namespace?: string }): void {
  writeFileSync(
    path,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: target.name, cluster: { server: target.server, 'certificate-authority': target.caFile } }],
      users: [{ name: 'admin', user: { token: target.token } }],
      contexts: [{ name: target.name, context: { cluster: target.name, user: 'admin', ...(target.namespace ? { namespace: target.namespace } : {}) } }],
      'current-context': target.name,
    }),
  );
}
