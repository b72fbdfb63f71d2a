import { request } from 'node:https';
import t from 'tap';
import { parse } from 'yaml';
import type { Json } from '../helpers/reviews.js';
import { hasSidecar, waitFor } from './harness.js';
import { isReady, namespaceFor, nodeClusterOrSkip } from './node-harness.js';

// "Pods that escaped", against sre-quero as deploy/ installs it: pods that run
// in a namespace before it is labelled logging.sre-quero/injection=enabled
// (what a pod created before the install, or while the webhook was down,
// looks like), and a pod whose sidecar is older than the settings give. The
// leading replica's reconciler reports them (sre_quero_escaped_pods, an Event
// on each pod), `sre-quero explain cluster` lists them with the command that
// replaces them, and after that command they are gone from the report.
// Nothing else is touched: only this file's own namespace is labelled, so
// the other files, which run at the same time, are not affected.

const cluster = nodeClusterOrSkip();

if (cluster !== undefined) {
  const { api, kubectl } = cluster;
  const { main } = await import('../../src/cli.js');
  const explain = async (argv: string[]) => {
    const out = { stdout: '', stderr: '' };
    const code = await main(['explain', ...argv, '--kubeconfig', cluster.kubeconfig], { stdout: (text) => (out.stdout += text), stderr: (text) => (out.stderr += text), readStdin: () => '' });
    return { code, ...out };
  };

  /** The Lease holder's pod: the replica whose reconciler reports. */
  const leader = async (): Promise<Json | undefined> => {
    const holder = ((await api('GET', '/apis/coordination.k8s.io/v1/namespaces/sre-quero/leases/sre-quero-reconciler')).body as Json).spec?.holderIdentity as string | undefined;
    if (!holder) return undefined;
    const pod = await api('GET', `/api/v1/namespaces/sre-quero/pods/${holder.split('_')[0]}`);
    return pod.status === 200 && pod.body.status?.podIP ? (pod.body as Json) : undefined;
  };
  /** The leader's /metrics, from the host (the bridge reaches pod IPs). Its certificate names the Service, not the pod's IP: not verified here. */
  const leaderMetrics = async (): Promise<{ leader: string; text: string } | undefined> => {
    const pod = await leader();
    if (pod === undefined) return undefined;
    const text = await new Promise<string | undefined>((resolve) => {
      const req = request(`https://${pod.status.podIP}:8443/metrics`, { rejectUnauthorized: false, timeout: 5000 }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve(res.statusCode === 200 ? body : undefined));
      });
      req.on('timeout', () => req.destroy());
      req.on('error', () => resolve(undefined));
      req.end();
    });
    return text === undefined ? undefined : { leader: pod.metadata.name, text };
  };
  const escapedLines = (text: string, ns: string) =>
    text
      .split('\n')
      .filter((line) => line.startsWith(`sre_quero_escaped_pods{namespace="${ns}",`))
      .sort();
  const waitForGauge = (ns: string, expected: string[], what: string) =>
    waitFor(
      what,
      async () => {
        const metrics = await leaderMetrics();
        return metrics !== undefined && JSON.stringify(escapedLines(metrics.text, ns)) === JSON.stringify([...expected].sort()) ? metrics : undefined;
      },
      90_000,
      1000,
    );

  t.test('pods running before their namespace asked for injection, and an older sidecar: gauge, Events, explain cluster, fixed by a rollout', async (t) => {
    const ns = await namespaceFor(cluster, 'escaped');
    const deployment = parse(`
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: ${ns}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - {name: web, image: ${cluster.busyboxImage}, imagePullPolicy: Never, command: [sh, -c, 'trap "exit 0" TERM; while true; do sleep 1; done']}
`) as Json;
    const applied = await kubectl(['apply', '-f', '-'], { input: JSON.stringify(deployment) });
    t.equal(applied.status, 0, 'kubectl apply', { stderr: applied.stderr });
    // A pod as an older sre-quero injected it: the label, a status naming another image, a container named promtail.
    const oldStatus = { sidecar: 'promtail', agent: 'promtail', sidecarMode: 'classic', sidecarModeFrom: 'settings', image: 'grafana/promtail:3.0.0', metricsPort: 9080, logPath: '/var/log/app', containers: ['app'], configMap: 'promtail-sidecar-config', reusedVolumes: [] };
    const old = await api('POST', `/api/v1/namespaces/${ns}/pods`, {
      metadata: { name: 'old-sidecar', labels: { app: 'old', 'logging.sre-quero/injected': 'true' }, annotations: { 'logging.sre-quero/status': JSON.stringify(oldStatus) } },
      spec: {
        terminationGracePeriodSeconds: 1,
        containers: ['app', 'promtail'].map((name) => ({ name, image: cluster.busyboxImage, imagePullPolicy: 'Never', command: ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 1; done'] })),
      },
    });
    t.equal(old.status, 201, 'created', { body: old.body });
    const podsOf = async (selector: string) => ((await api('GET', `/api/v1/namespaces/${ns}/pods?labelSelector=${encodeURIComponent(selector)}`)).body as Json).items as Json[];
    const before = await waitFor('two running web pods, without the sidecar', async () => {
      const pods = await podsOf('app=web');
      return pods.length === 2 && pods.every(isReady) ? pods : undefined;
    }, 90_000);
    for (const pod of before) t.notOk(hasSidecar(pod), `${pod.metadata.name}: no sidecar (the namespace did not ask yet)`);
    await waitFor('the old-sidecar pod running', async () => ((await podsOf('app=old')).every(isReady) ? true : undefined), 90_000);

    const labelled = await api('PATCH', `/api/v1/namespaces/${ns}`, { metadata: { labels: { 'logging.sre-quero/injection': 'enabled' } } }, { contentType: 'application/merge-patch+json' });
    t.equal(labelled.status, 200, 'the namespace now asks for every pod');

    const reported = await waitForGauge(
      ns,
      [`sre_quero_escaped_pods{namespace="${ns}",reason="missing_sidecar"} 2`, `sre_quero_escaped_pods{namespace="${ns}",reason="outdated_image"} 1`],
      'the gauge on the leading replica',
    );
    t.pass(`reported by ${reported.leader}`);

    const eventsOf = async (name: string) =>
      ((await api('GET', `/api/v1/namespaces/${ns}/events?fieldSelector=${encodeURIComponent(`involvedObject.name=${name}`)}`)).body.items as Json[]).filter((e) =>
        ['LoggingSidecarMissing', 'LoggingSidecarOutdated'].includes(e.reason),
      );
    for (const pod of before) {
      const [event] = await waitFor(`the Event on ${pod.metadata.name}`, async () => ((await eventsOf(pod.metadata.name)).length > 0 ? eventsOf(pod.metadata.name) : undefined), 30_000);
      t.match(event, {
        type: 'Warning',
        reason: 'LoggingSidecarMissing',
        involvedObject: { kind: 'Pod', name: pod.metadata.name, uid: pod.metadata.uid },
        message: new RegExp(`^This pod runs without the logging sidecar that its namespace asks for \\(logging\\.sre-quero/injection=enabled\\).*: kubectl rollout restart deployment/web -n ${ns}\\.`),
      });
    }
    const [outdated] = await waitFor('the Event on old-sidecar', async () => ((await eventsOf('old-sidecar')).length > 0 ? eventsOf('old-sidecar') : undefined), 30_000);
    t.match(outdated, { type: 'Normal', reason: 'LoggingSidecarOutdated', message: /^This pod runs the sidecar image grafana\/promtail:3\.0\.0; the settings give .* now\. .*kubectl delete pod\/old-sidecar/ });

    // Not at every resync: more changes in the namespace, still one Event per pod (unless the Lease moved meanwhile: a new leader tells once more).
    await api('PATCH', `/api/v1/namespaces/${ns}/pods/old-sidecar`, { metadata: { labels: { touched: 'yes' } } }, { contentType: 'application/merge-patch+json' });
    await new Promise((resolve) => setTimeout(resolve, 5000));
    if ((await leader())?.metadata.name === reported.leader) {
      for (const name of [...before.map((p) => p.metadata.name as string), 'old-sidecar']) t.equal((await eventsOf(name)).length, 1, `${name}: told once`);
    } else t.comment('the Lease moved during the test (another file restarts replicas): the once-per-pod check is left out');

    const listed = await explain(['cluster', '-n', ns]);
    t.equal(listed.code, 0, listed.stderr);
    t.match(listed.stdout, /^settings: ConfigMap sre-quero\/sre-quero-settings\n/);
    t.match(listed.stdout, `\nnamespace ${ns} (logging.sre-quero/injection=enabled): 3 escaped pods\n`);
    t.match(listed.stdout, new RegExp(`\\n  Deployment web: missing_sidecar: ${before.map((p) => p.metadata.name).sort().join(', ')}\\n    runs without the logging sidecar[^\\n]*\\n    fix: kubectl rollout restart deployment/web -n ${ns}\\n`));
    t.match(listed.stdout, new RegExp(`\\n  Pod old-sidecar: outdated_image: old-sidecar\\n    runs the sidecar image grafana/promtail:3\\.0\\.0; [^\\n]*\\n    fix: kubectl delete pod/old-sidecar -n ${ns}, then create it again`));
    t.match(listed.stdout, /\n3 escaped pods in 1 namespace \(missing_sidecar 2, outdated_image 1\); sre-quero restarts nothing itself\n$/);
    const everywhere = await explain(['cluster']);
    t.equal(everywhere.code, 0, everywhere.stderr);
    t.match(everywhere.stdout, `\nnamespace ${ns} (logging.sre-quero/injection=enabled): 3 escaped pods\n`, 'in the cluster-wide list too');
    const onePod = await explain(['pod', before[0]?.metadata.name, '-n', ns]);
    t.equal(onePod.code, 0, onePod.stderr);
    t.match(onePod.stdout, `\n  note: this pod runs without the sidecar (created before its namespace or template asked for it, or while the webhook was unreachable); a new pod gets it: kubectl rollout restart deployment/web -n ${ns}\n`);

    // The fix, as the report says: a rollout makes new pods, which the webhook injects.
    const restarted = await kubectl(['rollout', 'restart', 'deployment/web', '-n', ns]);
    t.equal(restarted.status, 0, 'kubectl rollout restart', { stderr: restarted.stderr });
    const status = await kubectl(['rollout', 'status', 'deployment/web', '-n', ns, '--timeout=180s']);
    t.equal(status.status, 0, 'rolled out', { stdout: status.stdout, stderr: status.stderr });
    const after = (await podsOf('app=web')).filter((p) => !p.metadata.deletionTimestamp);
    t.ok(after.length >= 2 && after.every(hasSidecar), 'the new pods carry the sidecar');
    await waitForGauge(ns, [`sre_quero_escaped_pods{namespace="${ns}",reason="outdated_image"} 1`], 'missing_sidecar gone from the gauge');
    const remaining = await explain(['cluster', '-n', ns]);
    t.match(remaining.stdout, `\nnamespace ${ns} (logging.sre-quero/injection=enabled): 1 escaped pod\n  Pod old-sidecar: outdated_image`);

    t.equal((await api('DELETE', `/api/v1/namespaces/${ns}/pods/old-sidecar?gracePeriodSeconds=0`)).status, 200);
    await waitForGauge(ns, [], 'the gauge empty for the namespace');
    t.match((await explain(['cluster', '-n', ns])).stdout, /\nno escaped pods: /);
  });
}
