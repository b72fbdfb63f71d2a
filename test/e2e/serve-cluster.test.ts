import t from 'tap';
import { parse } from 'yaml';
import { childEnv } from '../helpers/child-env.js';
import type { Json } from '../helpers/reviews.js';
import { startServerProcess, writeLocalhostCertificate } from '../helpers/server-process.js';
import { applyWebhookConfigurations, controlPlaneOrSkip, kustomize, repoRoot, waitFor, webhookConfigurations } from './harness.js';

// The whole product as a platform team runs it: `sre-quero serve` with a
// kubeconfig serves the webhook and reconciles. A Deployment annotated for
// injection plus its Service end with the Service carrying promtail-http and
// the namespace carrying the ConfigMap; deleting the Deployment removes the port.

const cp = await controlPlaneOrSkip();

if (cp !== undefined) {
  const bundle = writeLocalhostCertificate();

  // The central template, as deploy/base ships it.
  const template = (await kustomize(cp, `${repoRoot}deploy/base`)).find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'sre-quero-promtail-template') as Json;
  await cp.createNamespace('sre-quero', { 'logging.sre-quero/injection': 'disabled' });
  const created = await cp.api('POST', '/api/v1/namespaces/sre-quero/configmaps', { ...template, metadata: { name: template.metadata.name } });
  if (created.status !== 201) throw new Error(`creating the template: ${created.status}`);
  await cp.createNamespace('shop');

  const { child, lines, address } = await startServerProcess(
    t,
    ['--import', 'tsx', `${repoRoot}src/bin.ts`, 'serve', '--listen', '127.0.0.1:0', '--tls-cert', bundle.certFile, '--tls-key', bundle.keyFile, '--kubeconfig', cp.kubeconfig, '--lease-duration-ms', '3000'],
    { env: childEnv({}, { dropServerSettings: true }) },
  );
  await applyWebhookConfigurations(cp, await webhookConfigurations(cp, address, bundle.caCert));

  t.test('a Deployment and its Service: port and ConfigMap appear; deleting the Deployment removes the port', async (t) => {
    const deployment = parse(`
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata:
      labels: {app: web}
      annotations: {logging.sre-quero/sidecar: "true"}
    spec:
      containers: [{name: web, image: nginx:1.27, ports: [{name: http, containerPort: 8080}]}]
`) as Json;
    const serviceManifest = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' }, spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] } };
    const applied = await cp.kubectl(['apply', '-n', 'shop', '-f', '-'], { input: `${JSON.stringify(deployment)}\n${JSON.stringify(serviceManifest)}` });
    t.equal(applied.status, 0, 'kubectl apply', { stderr: applied.stderr });

    const pods = await waitFor('two injected pods', async () => {
      const list = (await cp.api('GET', '/api/v1/namespaces/shop/pods?labelSelector=app%3Dweb')).body.items as Json[];
      return list.length === 2 && list.every((p) => p.spec.containers.some((c: Json) => c.name === 'promtail')) ? list : undefined;
    });
    t.equal(pods.length, 2, 'the webhook injected the ReplicaSet pods');

    const port = await waitFor('the promtail-http port on the Service', async () => {
      const svc = (await cp.api('GET', '/api/v1/namespaces/shop/services/web')).body as Json;
      return (svc.spec.ports as Json[]).find((p) => p.name === 'promtail-http');
    });
    t.same(port, { name: 'promtail-http', port: 9080, targetPort: 'promtail-http', protocol: 'TCP' });
    const configMap = await waitFor('the promtail ConfigMap', async () => {
      const reply = await cp.api('GET', '/api/v1/namespaces/shop/configmaps/promtail-sidecar-config');
      return reply.status === 200 ? (reply.body as Json) : undefined;
    });
    t.equal(configMap.data['promtail.yaml'], template.data['promtail.yaml'], 'rendered from the central template');

    t.equal((await cp.api('DELETE', '/apis/apps/v1/namespaces/shop/deployments/web?propagationPolicy=Foreground')).status, 200);
    // No kubelet: pods are gone once the garbage collector deletes them.
    await waitFor('the port to go', async () => {
      const svc = (await cp.api('GET', '/api/v1/namespaces/shop/services/web')).body as Json;
      return (svc.spec.ports as Json[]).some((p) => p.name === 'promtail-http') ? undefined : true;
    }, 60_000);
    t.same(((await cp.api('GET', '/api/v1/namespaces/shop/services/web')).body.spec.ports as Json[]).map((p) => p.name), ['http']);
    t.ok(lines.some((line) => line.msg === 'reconciler lease acquired; reconciling'), 'it took the lease');
  });

  t.test('SIGTERM hands the lease over', async (t) => {
    child.kill('SIGTERM');
    const code = await new Promise((resolve) => child.on('exit', resolve));
    t.equal(code, 0);
    const lease = (await cp.api('GET', '/apis/coordination.k8s.io/v1/namespaces/sre-quero/leases/sre-quero-reconciler')).body as Json;
    t.notOk(lease.spec.holderIdentity, 'released for the next replica');
  });
}
