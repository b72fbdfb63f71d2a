import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { findCluster, IN_CLUSTER_TOKEN } from '../config.js';
import { UsageError } from '../errors.js';
import { kubeConfigFor } from '../reconciler/kube.js';
import { DEFAULT_NAMESPACE } from '../webhook-contract.js';
import { uninstallApi, type UninstallApi } from './api.js';
import { uninstall, type UninstallResult } from './uninstall.js';

const NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/**
 * `sre-quero uninstall [--kubeconfig F] [--namespace NS] [--app-namespaces SELECTOR] [--dry-run]`:
 * flags, the cluster (as `serve` finds one: --kubeconfig, KUBECONFIG, or the
 * pod's service account), then uninstall.ts. `makeApi` is for tests.
 */
export async function runUninstall(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  print: (line: string) => void,
  makeApi: (kubeconfig: ReturnType<typeof kubeConfigFor>) => UninstallApi = uninstallApi,
): Promise<UninstallResult> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      kubeconfig: { type: 'string' },
      namespace: { type: 'string', short: 'n', default: DEFAULT_NAMESPACE },
      'app-namespaces': { type: 'string' },
      'dry-run': { type: 'boolean', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (!NAME.test(values.namespace)) throw new UsageError('--namespace must be a namespace name');
  if (values['app-namespaces'] !== undefined && values['app-namespaces'].trim() === '') throw new UsageError('--app-namespaces needs a label selector, such as team=shop');
  const inPod = Boolean(env.KUBERNETES_SERVICE_HOST) && existsSync(IN_CLUSTER_TOKEN);
  const cluster = findCluster(values.kubeconfig, env, inPod);
  if (cluster === undefined) throw new UsageError('uninstall needs a cluster: give --kubeconfig <file> or set KUBECONFIG');
  const api = makeApi(kubeConfigFor(cluster));
  return uninstall(
    { api, print, sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)), now: () => Date.now() },
    {
      namespace: values.namespace,
      ...(values['app-namespaces'] === undefined ? {} : { appNamespaces: values['app-namespaces'] }),
      dryRun: values['dry-run'],
      stopTimeoutMs: 120_000,
    },
  );
}
