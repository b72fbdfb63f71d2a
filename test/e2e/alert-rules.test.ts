import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import t from 'tap';
import { parse, stringify } from 'yaml';
import { freePort } from '../cluster/net.js';
import { readProvisioned } from '../cluster/versions.js';
import { tempDir } from '../helpers/temp-dir.js';
import type { Json } from '../helpers/reviews.js';
import { repoRoot, waitFor } from './harness.js';
import { httpGet, namespaceFor, nodeClusterOrSkip } from './node-harness.js';

// The alert rules (deploy/helm/sre-quero/files/prometheus-rules.yaml) in a
// real Prometheus, on the real series of the suite's sre-quero. The suite's
// Prometheus takes no rule files (its config is written once, without
// lifecycle reloads, and shared by every file), so this file runs a
// Prometheus of its own beside it, on the pod gateway: it loads the rules,
// scrapes the webhook replicas as the README's scrape config (and the
// chart's ServiceMonitor) does, over HTTPS verified against the serving
// certificate's CA for sre-quero.sre-quero.svc, and scrapes the API server.

const cluster = nodeClusterOrSkip();
const prometheusBinary = readProvisioned()?.prometheus;

interface Rule {
  alert: string;
  expr: string;
}
const RULES_FILE = join(repoRoot, 'deploy/helm/sre-quero/files/prometheus-rules.yaml');
const groups = (parse(readFileSync(RULES_FILE, 'utf8')) as { groups: { name: string; rules: Rule[] }[] }).groups;
const rule = (alert: string): Rule => {
  const found = groups.flatMap((g) => g.rules).find((r) => r.alert === alert);
  if (found === undefined) throw new Error(`no alert ${alert} in ${RULES_FILE}`);
  return found;
};

if (cluster !== undefined && prometheusBinary === undefined) {
  t.fail('no provisioned Prometheus (provisioned.json names none): run `bash test/cluster/provision.sh`');
} else if (cluster !== undefined && prometheusBinary !== undefined) {
  const { api } = cluster;
  const dir = tempDir('alert-rules');
  const gateway = new URL(cluster.prometheusUrl).hostname;
  const port = await freePort(gateway);
  const url = `http://${gateway}:${port}`;
  const SERVER_NAME = 'sre-quero.sre-quero.svc';

  // The serving certificate's CA, as the ServiceMonitor reads it (ca.crt of the serving Secret).
  const secret = await api('GET', '/api/v1/namespaces/sre-quero/secrets/sre-quero-tls');
  if (secret.status !== 200) throw new Error(`reading Secret sre-quero/sre-quero-tls: ${secret.status}`);
  const ca = Buffer.from((secret.body as Json).data['ca.crt'], 'base64').toString('utf8');
  const caFile = join(dir, 'sre-quero-ca.crt');
  writeFileSync(caFile, ca);
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, cluster.token, { mode: 0o600 });
  const apiServer = new URL(cluster.server);
  const config = {
    global: { scrape_interval: '2s', scrape_timeout: '1s', evaluation_interval: '2s' },
    rule_files: [RULES_FILE],
    scrape_configs: [
      {
        // README "Monitoring": the scrape config without the Operator.
        job_name: 'sre-quero',
        scheme: 'https',
        honor_labels: true,
        tls_config: { ca_file: caFile, server_name: SERVER_NAME },
        kubernetes_sd_configs: [
          { role: 'endpoints', namespaces: { names: ['sre-quero'] }, api_server: cluster.server, tls_config: { ca_file: cluster.caFile }, authorization: { credentials_file: tokenFile } },
        ],
        relabel_configs: [
          { source_labels: ['__meta_kubernetes_service_name', '__meta_kubernetes_endpoint_port_name'], regex: 'sre-quero;https', action: 'keep' },
          { source_labels: ['__meta_kubernetes_namespace'], target_label: 'namespace' },
          { source_labels: ['__meta_kubernetes_pod_name'], target_label: 'pod' },
        ],
      },
      {
        job_name: 'apiserver',
        scheme: 'https',
        static_configs: [{ targets: [apiServer.host] }],
        tls_config: { ca_file: cluster.caFile },
        authorization: { credentials_file: tokenFile },
      },
    ],
  };
  const configFile = join(dir, 'prometheus.yaml');
  writeFileSync(configFile, stringify(config));
  const log = openSync(join(dir, 'prometheus.log'), 'a');
  const child: ChildProcess = spawn(prometheusBinary, [`--config.file=${configFile}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=${gateway}:${port}`, '--log.level=warn'], { stdio: ['ignore', log, log] });
  t.teardown(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  });
  const prometheusLog = () => readFileSync(join(dir, 'prometheus.log'), 'utf8').slice(-2000);
  try {
    await waitFor('our Prometheus ready', async () => ((await httpGet(`${url}/-/ready`).catch(() => ({ status: 0 }))).status === 200 ? true : undefined), 60_000);
  } catch (error) {
    throw new Error(`${(error as Error).message}; its log:\n${prometheusLog()}`);
  }

  const getJson = async (path: string): Promise<Json> => {
    const reply = await httpGet(`${url}${path}`);
    if (reply.status !== 200) throw new Error(`GET ${path}: ${reply.status} ${reply.body}`);
    return (JSON.parse(reply.body) as Json).data;
  };
  const query = async (promql: string): Promise<Json[]> => (await getJson(`/api/v1/query?query=${encodeURIComponent(promql)}`)).result as Json[];
  const alerts = async (alertname: string): Promise<Json[]> => ((await getJson('/api/v1/alerts')).alerts as Json[]).filter((a) => a.labels.alertname === alertname);
  /** The left side of an alert's `<lhs> <op> <threshold>` expression, as the rules file writes it. */
  const leftOf = (alert: string, op: string): string => {
    const [lhs, ...rest] = rule(alert).expr.split(` ${op} `);
    if (rest.length !== 1) throw new Error(`${alert}: expected "<expr> ${op} <threshold>", got ${rule(alert).expr}`);
    return lhs as string;
  };

  t.test('the rules load: every group and every alert of the file, each evaluated without error', async (t) => {
    const loaded = await waitFor('every rule evaluated', async () => {
      const data = await getJson('/api/v1/rules?type=alert');
      const rules = (data.groups as Json[]).flatMap((g) => g.rules as Json[]);
      return rules.length > 0 && rules.every((r) => r.health !== 'unknown') ? (data.groups as Json[]) : undefined;
    }, 30_000);
    t.strictSame(loaded.map((g) => g.name).sort(), groups.map((g) => g.name).sort(), 'the groups (the API lists them by name)');
    for (const group of loaded) {
      const expected = groups.find((g) => g.name === group.name);
      t.strictSame((group.rules as Json[]).map((r) => r.name), expected?.rules.map((r) => r.alert), `${group.name}: its alerts`);
      for (const loadedRule of group.rules as Json[]) t.equal(loadedRule.health, 'ok', `${loadedRule.name}: health ok`, { lastError: loadedRule.lastError });
    }
  });

  t.test("Prometheus scrapes the suite's replicas over HTTPS, verified against the serving certificate's CA", async (t) => {
    const up = await waitFor('a replica scraped', async () => {
      const result = await query('up{job="sre-quero"} == 1');
      return result.length > 0 ? result : undefined;
    }, 60_000);
    t.comment(`replicas scraped: ${up.map((r) => r.metric.pod).join(', ')}`);
    for (const series of up) t.equal(series.metric.namespace, 'sre-quero', `${series.metric.pod}: the install's namespace`);
    const targets = ((await getJson('/api/v1/targets?state=active')).activeTargets as Json[]).filter((target) => target.labels.job === 'sre-quero' && target.health === 'up');
    t.ok(targets.length > 0 && targets.every((target) => target.scrapeUrl.startsWith('https://')), 'https targets');
    await waitFor('the API server scraped', async () => ((await query('up{job="apiserver"} == 1')).length === 1 ? true : undefined), 30_000);
    t.pass('the API server scraped (its admission metrics: SreQueroWebhookUnreachable)');
  });

  t.test("certificate expiry: SreQueroCertificateExpiresSoon's expression over the real gauge", async (t) => {
    const lhs = leftOf('SreQueroCertificateExpiresSoon', '<');
    t.equal(lhs, 'min by (namespace) (sre_quero_certificate_expiry_seconds)');
    const [series, ...more] = await waitFor('the expiry gauge scraped', async () => {
      const result = await query(lhs);
      return result.length > 0 ? result : undefined;
    }, 60_000);
    t.equal(more.length, 0, 'one install');
    t.equal(series?.metric.namespace, 'sre-quero');
    const days = Number(series?.value[1]) / 86_400;
    t.ok(days > 364 && days <= 365, `the suite's certificate (sre-quero certs, 365 days): ${days.toFixed(2)} days left`);
    t.strictSame(await query(rule('SreQueroCertificateExpiresSoon').expr), [], 'more than 14 days left: the alert expression is empty');
    t.strictSame(await query(rule('SreQueroCertificateExpiryCritical').expr), [], 'and the critical one');
    const beyond = await query(`${lhs} < 400 * 24 * 3600`);
    t.match(beyond, [{ metric: { namespace: 'sre-quero' } }], 'with a threshold beyond the certificate, the same expression returns the install');
    t.strictSame(await alerts('SreQueroCertificateExpiresSoon'), [], 'not pending');
  });

  t.test("the reconciler: SreQueroReconcilerNoLeader's expression sees one leader", async (t) => {
    const lhs = leftOf('SreQueroReconcilerNoLeader', '<');
    const leaders = await waitFor('exactly one leader', async () => {
      const result = await query(lhs);
      return result.length === 1 && result[0]?.value[1] === '1' ? result : undefined;
    }, 60_000);
    t.equal(leaders[0]?.metric.namespace, 'sre-quero');
    t.strictSame(await query(rule('SreQueroReconcilerNoLeader').expr), [], 'not firing');
    t.strictSame(await query(rule('SreQueroMetricsAbsent').expr), [], 'the metrics are there');
  });

  t.test('malformed requests posted to a replica: SreQueroInvalidRequests goes pending, its text filled from the real labels', async (t) => {
    const post = (ip: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = request({ host: ip, port: 8443, path: '/mutate', method: 'POST', ca, servername: SERVER_NAME, agent: false, timeout: 5000, headers: { 'content-type': 'application/json' } }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (body += chunk));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on('timeout', () => req.destroy(new Error('timed out')));
        req.on('error', reject);
        req.end('{"kind":"NotAReview"}');
      });
    const replica = async (): Promise<{ ip: string; pod: string }> => {
      const slices = ((await api('GET', '/apis/discovery.k8s.io/v1/namespaces/sre-quero/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Dsre-quero')).body as Json).items as Json[];
      const endpoint = slices.flatMap((s) => s.endpoints as Json[]).find((e) => e.conditions?.ready);
      if (endpoint === undefined) throw new Error('no ready sre-quero endpoint');
      return { ip: endpoint.addresses[0], pod: endpoint.targetRef.name };
    };
    const counted = async (pod: string) => Number((await query(`sre_quero_invalid_requests_total{code="SQ_INVALID_REVIEW", pod="${pod}"}`))[0]?.value[1] ?? 0);
    // A replica may go away meanwhile (installed.test.ts deletes one): then again with another.
    let pending: Json | undefined;
    for (let attempt = 1; attempt <= 3 && pending === undefined; attempt++) {
      try {
        const { ip, pod } = await replica();
        const first = await post(ip);
        t.equal(first.status, 400, `${pod}: 400`);
        t.match(first.body, /"error":"SQ_INVALID_REVIEW"/);
        // The series has to be scraped once before the burst: rate() counts increases between samples.
        const before = await waitFor(`${pod}'s counter scraped`, async () => {
          const value = await counted(pod);
          return value >= 1 ? value : undefined;
        }, 30_000);
        for (let i = 0; i < 100; i++) await post(ip);
        await waitFor(`${pod}'s counter up by 100`, async () => ((await counted(pod)) >= before + 100 ? true : undefined), 30_000);
        pending = await waitFor('SreQueroInvalidRequests pending', async () => (await alerts('SreQueroInvalidRequests')).find((a) => a.labels.code === 'SQ_INVALID_REVIEW'), 30_000);
      } catch (error) {
        t.comment(`attempt ${attempt}: ${(error as Error).message}`);
      }
    }
    t.ok(pending, 'the alert is active');
    t.equal(pending?.state, 'pending', "pending: its `for` (10 min) has not passed");
    t.strictSame(pending?.labels, { alertname: 'SreQueroInvalidRequests', code: 'SQ_INVALID_REVIEW', namespace: 'sre-quero', severity: 'warning' });
    t.equal(pending?.annotations.summary, 'sre-quero refuses malformed requests (SQ_INVALID_REVIEW)');
    t.equal(pending?.annotations.runbook_url, 'https://github.com/sre-quero/sre-quero/blob/main/README.md#srequeroinvalidrequests');
    t.match(pending?.annotations.description, /^sre-quero in sre-quero answers \d+\.\d\d requests\/s with a 4xx error SQ_INVALID_REVIEW\./);
  });

  t.test("an entry the API server cannot call: SreQueroWebhookUnreachable goes pending on the API server's real fail-open counter", async (t) => {
    // A webhook entry of our own, named like ours (<x>.sre-quero.io), failing
    // open on a closed port, for this file's namespace only; dry-run pod
    // creations go through admission without creating anything.
    const ns = await namespaceFor(cluster, 'alert-rules');
    const name = 'unreachable.alert-rules.sre-quero.io';
    const configuration = {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingWebhookConfiguration',
      metadata: { name: 'sre-quero-alert-rules-test' },
      webhooks: [
        {
          name,
          clientConfig: { url: `https://127.0.0.1:${await freePort()}/mutate`, caBundle: Buffer.from(ca).toString('base64') },
          rules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'] }],
          namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } },
          failurePolicy: 'Ignore',
          sideEffects: 'None',
          admissionReviewVersions: ['v1'],
          timeoutSeconds: 1,
        },
      ],
    };
    const created = await api('POST', '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations', configuration);
    t.equal(created.status, 201, 'the failing entry', { body: created.body });
    t.teardown(async () => {
      await api('DELETE', '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/sre-quero-alert-rules-test');
    });
    const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { generateName: 'dry-run-' }, spec: { containers: [{ name: 'app', image: cluster.busyboxImage }] } };
    let stop = false;
    const creating = (async () => {
      while (!stop) {
        const reply = await api('POST', `/api/v1/namespaces/${ns}/pods?dryRun=All`, pod);
        if (reply.status !== 201) t.comment(`dry-run create: ${reply.status}`);
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    })();
    try {
      const failedOpen = await waitFor('the fail-open counter scraped', async () => {
        const result = await query(`apiserver_admission_webhook_fail_open_count{name="${name}"}`);
        return result.length > 0 ? result : undefined;
      }, 60_000);
      t.match(failedOpen, [{ metric: { name, type: 'admit' } }], 'apiserver_admission_webhook_fail_open_count{name, type}');
      const alert = await waitFor('SreQueroWebhookUnreachable pending', async () => (await alerts('SreQueroWebhookUnreachable')).find((a) => a.labels.name === name), 60_000);
      t.equal(alert.state, 'pending', 'pending: its `for` (5 min) has not passed');
      t.strictSame(alert.labels, { alertname: 'SreQueroWebhookUnreachable', name, severity: 'critical' });
      t.equal(alert.annotations.summary, `The API server cannot call sre-quero (${name})`);
      const ours = (await alerts('SreQueroWebhookUnreachable')).filter((a) => a.labels.name !== name);
      t.comment(`the suite's own entries meanwhile: ${ours.length === 0 ? 'not failing' : ours.map((a) => a.labels.name).join(', ')}`);
    } finally {
      stop = true;
      await creating;
    }
  });

  t.test('sre_quero_escaped_pods: what SreQueroEscapedPods reads evaluates (escaped-pods.test.ts makes the gauge count)', async (t) => {
    const [lhs] = rule('SreQueroEscapedPods').expr.split(' > ');
    const result = await query(lhs as string);
    t.comment(result.length === 0 ? 'no series: no pod has escaped in this cluster right now' : `series: ${JSON.stringify(result.map((r) => r.metric))}`);
    t.pass('the expression evaluates');
  });
}
