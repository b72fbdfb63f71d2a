import t from 'tap';
import { apiClient, kubectlRunner, type Api, type Kubectl } from '../cluster/client.js';
import { suiteStatus, type SuiteStatus } from '../cluster/suite.js';
import { clusterRequired } from '../cluster/versions.js';
import type { Json } from '../helpers/reviews.js';

// Test files that need pods to run use the suite's one cluster with a real
// node and sre-quero installed from deploy/ (started by tap's `before`, see
// test/cluster/suite.ts). Each file works in namespaces of its own.

export type NodeCluster = Extract<SuiteStatus, { ok: true }> & { api: Api; kubectl: Kubectl };

export function nodeClusterOrSkip(): NodeCluster | undefined {
  const status = suiteStatus();
  if (!status.ok) {
    if (clusterRequired()) t.fail(`SRE_QUERO_REQUIRE_CLUSTER=1 but ${status.reason}`);
    else t.plan(0, status.reason);
    return undefined;
  }
  t.comment(`real node: Kubernetes v${status.version}, node ${status.node}`);
  return {
    ...status,
    api: apiClient({ server: status.server, caFile: status.caFile, token: status.token }),
    kubectl: kubectlRunner(status.kubectlPath, status.kubeconfig),
  };
}

/** Creates a namespace and deletes it when the test file ends. */
export async function namespaceFor(cluster: NodeCluster, name: string, labels: Record<string, string> = {}): Promise<string> {
  const reply = await cluster.api('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } });
  if (reply.status !== 201) throw new Error(`creating namespace ${name}: ${reply.status} ${JSON.stringify(reply.body)}`);
  t.teardown(async () => {
    await cluster.api('DELETE', `/api/v1/namespaces/${name}`);
  });
  // Pods need the namespace's default ServiceAccount, which a controller adds.
  for (const deadline = Date.now() + 30_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 200))) {
    if ((await cluster.api('GET', `/api/v1/namespaces/${name}/serviceaccounts/default`)).status === 200) return name;
  }
  throw new Error(`namespace ${name} got no default ServiceAccount`);
}

export const isReady = (pod: Json): boolean =>
  (pod.status?.conditions ?? []).some((c: Json) => c.type === 'Ready' && c.status === 'True');

/** GET from the host (the host reaches pod IPs through the node's bridge). */
export { httpGet } from '../cluster/net.js';
