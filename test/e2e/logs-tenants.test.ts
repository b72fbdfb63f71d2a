import { randomUUID } from 'node:crypto';
import t from 'tap';
import { waitFor } from './harness.js';
import { apps, lokiStreams, ownLoki, teamConfigMap } from './log-harness.js';
import { httpGet, namespaceFor, nodeClusterOrSkip } from './node-harness.js';

// Multi-tenant Loki, as many platform teams run it: the promtail config names
// the tenant (X-Scope-OrgID) from the sidecar's own environment, here one
// tenant per namespace (`tenant_id: ${POD_NAMESPACE}`). The same client block
// works in the central template; it is tried on a Loki of this file's own,
// since the suite's Loki is single-tenant and shared.

const cluster = nodeClusterOrSkip();

if (cluster !== undefined) {
  const { deployOne, write } = apps(cluster);

  t.test('tenant_id: ${POD_NAMESPACE}: each namespace ships into its own tenant, and sees only its own lines', async (t) => {
    const loki = await ownLoki(t, cluster, { multiTenant: true });
    const mark = randomUUID();
    const namespaces = [await namespaceFor(cluster, 'tenant-red'), await namespaceFor(cluster, 'tenant-blue')];
    for (const ns of namespaces) {
      await teamConfigMap(cluster, ns, 'tenant-loki', (config) => {
        config.clients = [{ url: `${loki.url}/loki/api/v1/push`, tenant_id: '${POD_NAMESPACE}' }];
      });
      const pod = await deployOne(t, ns, 'web', { 'logging.sre-quero/sidecar': 'true', 'logging.sre-quero/config-map': 'tenant-loki' });
      await write(t, pod, '/var/log/app/access.log', `${ns} ${mark}`);
    }
    for (const ns of namespaces) {
      const streams = await waitFor(`${ns}'s line in its tenant`, async () => {
        const found = await lokiStreams(loki.url, '{job="web"}', mark, ns);
        return found.length > 0 ? found : undefined;
      }, 30_000);
      t.same(streams.map((s) => s.stream.namespace), [ns], `tenant ${ns} holds ${ns}'s stream only`);
      t.same(streams[0]?.values.map(([, text]) => text), [`${ns} ${mark}`]);
    }
    const anonymous = await httpGet(`${loki.url}/loki/api/v1/query_range?query=${encodeURIComponent('{job="web"}')}`);
    t.equal(anonymous.status, 401, 'a query without a tenant is refused');
  });
}
