import { randomUUID } from 'node:crypto';
import t from 'tap';
import type { Json } from '../helpers/reviews.js';
import { waitFor } from './harness.js';
import { lokiStreams } from './log-harness.js';
import { isReady, namespaceFor, nodeClusterOrSkip } from './node-harness.js';

// Pod Security `restricted`, enforced by the real API server: an annotated
// Deployment that complies runs with its injected sidecar (which complies
// too, in both modes), and its lines reach Loki.

const cluster = nodeClusterOrSkip();

const restrictedApp = (image: string, namespace: string, name: string, annotations: Record<string, string>): Json => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name, namespace },
  spec: {
    replicas: 1,
    selector: { matchLabels: { app: name } },
    template: {
      metadata: { labels: { app: name }, annotations: { 'logging.sre-quero/sidecar': 'true', ...annotations } },
      spec: {
        terminationGracePeriodSeconds: 2,
        securityContext: { runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000 },
        containers: [
          {
            name: 'web',
            image,
            imagePullPolicy: 'Never',
            command: ['sh', '-c', 'exec sleep 3600'],
            securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' } },
          },
        ],
      },
    },
  },
});

if (cluster !== undefined) {
  const { api, kubectl } = cluster;

  for (const mode of ['classic', 'native'] as const) {
    t.test(`restricted namespace: a compliant Deployment runs with its ${mode} sidecar and ships its lines`, async (t) => {
      const ns = await namespaceFor(cluster, `restricted-${mode}`, { 'pod-security.kubernetes.io/enforce': 'restricted', 'pod-security.kubernetes.io/enforce-version': 'latest' });
      const created = await api('POST', `/apis/apps/v1/namespaces/${ns}/deployments`, restrictedApp(cluster.busyboxImage, ns, 'web', { 'logging.sre-quero/sidecar-mode': mode }));
      t.equal(created.status, 201, 'the Deployment is stored', { body: created.body });
      const pod = await waitFor(`${ns}/web Ready`, async () => {
        const items = ((await api('GET', `/api/v1/namespaces/${ns}/pods?labelSelector=app%3Dweb`)).body as Json).items as Json[];
        return items.length === 1 && isReady(items[0] as Json) ? (items[0] as Json) : undefined;
      }, 60_000).catch(async (error: Error) => {
        const events = ((await api('GET', `/api/v1/namespaces/${ns}/events`)).body as Json).items.map((e: Json) => `${e.reason}: ${e.message}`);
        throw new Error(`${error.message}; events: ${events.join(' | ')}`);
      });
      const sidecars = mode === 'native' ? pod.spec.initContainers : pod.spec.containers.filter((c: Json) => c.name === 'promtail');
      t.same(sidecars.map((c: Json) => [c.name, c.securityContext.seccompProfile]), [['promtail', { type: 'RuntimeDefault' }]], 'the sidecar carries seccompProfile RuntimeDefault');

      const line = `restricted ${mode} ${randomUUID()}`;
      const exec = await kubectl(['-n', ns, 'exec', pod.metadata.name, '-c', 'web', '--', 'sh', '-c', `echo '${line}' >> /var/log/app/access.log`]);
      t.equal(exec.status, 0, 'the app, as uid 1000, writes to the shared folder', { stderr: exec.stderr });
      const streams = await waitFor('the line in Loki', async () => {
        const found = await lokiStreams(cluster.lokiUrl, `{namespace="${ns}"}`, line);
        return found.length > 0 ? found : undefined;
      }, 30_000);
      t.same(streams.flatMap((s) => s.values.map(([, text]) => text)), [line]);
    });
  }

  t.test('restricted namespace: without the seccomp profile the same sidecar would be refused (the check is live)', async (t) => {
    const ns = await namespaceFor(cluster, 'restricted-check', { 'pod-security.kubernetes.io/enforce': 'restricted' });
    const pod = restrictedApp(cluster.busyboxImage, ns, 'bare', {}).spec.template;
    pod.metadata = { name: 'bare', namespace: ns, annotations: { 'logging.sre-quero/sidecar': 'false' } };
    delete pod.spec.containers[0].securityContext.seccompProfile;
    const reply = await api('POST', `/api/v1/namespaces/${ns}/pods`, { apiVersion: 'v1', kind: 'Pod', ...pod });
    t.equal(reply.status, 403, 'Pod Security refuses a container without a seccomp profile');
    t.match((reply.body as Json).message, /seccompProfile/);
  });
}
