import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { makeCertificates } from '../../src/certs.js';
import { INJECTED_LABEL, LAYOUT } from '../../src/injection/index.js';
import { createMetrics } from '../../src/metrics.js';
import { cacheRoot, ENABLE_HINT, findBinaries, HELM_HINT, helmPath, PROMETHEUS_VERSION, readProvisioned } from '../cluster/versions.js';
import { helmRunner } from '../helpers/helm-chart.js';
import type { Json } from '../helpers/reviews.js';

// What ships for the platform team's monitoring (README: Monitoring): the
// alert rules (deploy/helm/sre-quero/files/prometheus-rules.yaml, the one
// source), the Grafana dashboard (files/grafana-dashboard.json), and the
// chart's PrometheusRule, ServiceMonitor, PodMonitor and dashboard ConfigMap.
// The rules pass the provisioned promtool (check and unit tests), every
// metric the rules and the dashboard read is one the server exports, every
// runbook link is a README anchor, the chart renders each object with its
// knobs, and deploy/observability (kustomize) holds the same objects. Without
// promtool, helm or kubectl (all built by provisioning) this file fails, it
// does not skip. UPDATE_GOLDEN=1 rewrites deploy/observability's copies.

const repoRoot = new URL('../../', import.meta.url).pathname;
const chart = join(repoRoot, 'deploy/helm/sre-quero');
const rulesFile = join(chart, 'files/prometheus-rules.yaml');
const dashboardFile = join(chart, 'files/grafana-dashboard.json');
const kustomizeDir = join(repoRoot, 'deploy/observability');
const rulesTests = join(repoRoot, 'test/fixtures/observability/rules.test.yaml');
const RUNBOOK_BASE = 'https://github.com/sre-quero/sre-quero/blob/main/README.md';

/**
 * Metrics the rules and the dashboard may read that src/metrics.ts does not
 * create, each with its reason.
 */
const NOT_FROM_THE_SERVER: Record<string, string> = {
  // The API server's own admission metrics (group sre-quero-apiserver): the
  // webhook entries as the API server sees them.
  apiserver_admission_webhook_fail_open_count: 'kube-apiserver',
  apiserver_admission_webhook_rejection_count: 'kube-apiserver',
};

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}
interface Group {
  name: string;
  rules: Rule[];
}

const rulesText = readFileSync(rulesFile, 'utf8');
const groups = (parse(rulesText) as { groups: Group[] }).groups;
const rules = groups.flatMap((group) => group.rules.map((rule) => ({ group: group.name, ...rule })));
const dashboardText = readFileSync(dashboardFile, 'utf8');
const dashboard = JSON.parse(dashboardText) as Json;
const panels = (dashboard.panels as Json[]).filter((panel) => panel.type !== 'row');
const dashboardExprs = panels.flatMap((panel) => (panel.targets as Json[]).map((target) => ({ panel: panel.title as string, expr: target.expr as string })));

/** The metric names a PromQL expression reads (enough PromQL for ours: no strings holding names, no {__name__=...}). */
function metricNames(expr: string): string[] {
  const words = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan']);
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""') // strings
    .replace(/\{[^}]*\}/g, ' ') // label matchers
    .replace(/\[[^\]]*\]/g, ' ') // ranges and subqueries
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' '); // label lists
  const names = new Set<string>();
  for (const match of bare.matchAll(/(?<![\w:.$])[a-zA-Z_:][\w:]*/g)) {
    const rest = bare.slice((match.index ?? 0) + match[0].length).trimStart();
    if (rest.startsWith('(') || words.has(match[0].toLowerCase())) continue; // a function, a keyword
    names.add(match[0]);
  }
  return [...names];
}

/** Every series name the server's registry exports (process metrics included, as `serve` registers them). */
async function exportedNames(): Promise<Set<string>> {
  const metrics = createMetrics({ processMetrics: true });
  const names = new Set<string>();
  for (const metric of await metrics.registry.getMetricsAsJSON()) {
    names.add(metric.name);
    const type = String(metric.type);
    if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(`${metric.name}${suffix}`);
    if (type === 'summary') for (const suffix of ['_sum', '_count']) names.add(`${metric.name}${suffix}`);
  }
  return names;
}

/** GitHub's anchors for README.md's headings (outside code blocks). */
function readmeAnchors(): Set<string> {
  const text = readFileSync(join(repoRoot, 'README.md'), 'utf8').replace(/^```[\s\S]*?^```/gm, '');
  const anchors = new Set<string>();
  for (const [, heading] of text.matchAll(/^#{1,6} +(.+?) *$/gm)) {
    anchors.add((heading as string).toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, '').replace(/ /g, '-'));
  }
  return anchors;
}

/** deploy/observability/prometheus-rule.yaml as it must read: the rules file's groups as a PrometheusRule's spec. */
function kustomizeRuleText(): string {
  const body = rulesText.slice(rulesText.indexOf('\ngroups:\n') + 1);
  return [
    '# Generated from deploy/helm/sre-quero/files/prometheus-rules.yaml (the one',
    '# source) by test/unit/observability.test.ts with UPDATE_GOLDEN=1: edit that',
    '# file, not this one.',
    'apiVersion: monitoring.coreos.com/v1',
    'kind: PrometheusRule',
    'metadata:',
    '  name: sre-quero',
    '  namespace: sre-quero',
    '  labels:',
    '    app.kubernetes.io/name: sre-quero',
    'spec:',
    ...body.trimEnd().split('\n').map((line) => (line === '' ? '' : `  ${line}`)),
    '',
  ].join('\n');
}

t.test('the rules: each alert has a severity, a summary, a description and a runbook link to its README anchor', async (t) => {
  t.strictSame(groups.map((g) => g.name), ['sre-quero-webhook', 'sre-quero-certificates', 'sre-quero-reconciler', 'sre-quero-apiserver']);
  const names = rules.map((rule) => rule.alert);
  t.strictSame(names, [...new Set(names)], 'alert names are unique');
  const anchors = readmeAnchors();
  for (const rule of rules) {
    t.match(rule.alert, /^SreQuero[A-Z]\w+$/, `${rule.alert}: named SreQuero*`);
    t.ok(['critical', 'warning', 'info'].includes(rule.labels?.severity as string), `${rule.alert}: severity ${rule.labels?.severity}`);
    t.strictSame(Object.keys(rule.annotations ?? {}).sort(), ['description', 'runbook_url', 'summary'], `${rule.alert}: summary, description, runbook_url`);
    t.equal(rule.annotations.runbook_url, `${RUNBOOK_BASE}#${rule.alert.toLowerCase()}`, `${rule.alert}: runbook_url`);
    t.ok(anchors.has(rule.alert.toLowerCase()), `${rule.alert}: README.md has the heading #### ${rule.alert}`);
  }
  t.ok(rules.every((rule) => rule.labels.severity !== undefined), 'every rule is an alert');
  for (const alert of ['SreQueroInternalErrors', 'SreQueroInvalidRequests', 'SreQueroAdmissionLatencyHigh', 'SreQueroRefusalsSpike', 'SreQueroEscapedPods',
    'SreQueroCertificateExpiresSoon', 'SreQueroReconcilerNoLeader', 'SreQueroReconcileErrors', 'SreQueroReconcileConflicts', 'SreQueroSidecarConfigInvalid', 'SreQueroSidecarReloadTimeouts']) {
    t.ok(names.includes(alert), `${alert} is there`);
  }
  t.equal(rules.find((r) => r.alert === 'SreQueroCertificateExpiresSoon')?.expr, 'min by (namespace) (sre_quero_certificate_expiry_seconds) < 14 * 24 * 3600', "README's certificate alert");
  t.match(rules.find((r) => r.alert === 'SreQueroAdmissionLatencyHigh')?.expr, /histogram_quantile\(0\.99,[\s\S]*sre_quero_admission_review_duration_seconds_bucket/, 'p99 of the review histogram');
});

t.test('every metric the rules and the dashboard read is one the server exports', async (t) => {
  const exported = await exportedNames();
  t.ok(exported.has('sre_quero_reconciler_leader') && exported.has('process_resident_memory_bytes'), 'the registry as serve builds it');
  t.equal(metricNames('sum by (le) (rate(a_bucket{x="y"}[5m])) * 1e3 > 0.1 and on (instance) b offset 5m or vector(0)').join(' '), 'a_bucket b', 'the name extraction itself');
  const read = [...rules.map((rule) => ({ where: `alert ${rule.alert}`, expr: rule.expr, apiserver: rule.group === 'sre-quero-apiserver' })), ...dashboardExprs.map((e) => ({ where: `panel "${e.panel}"`, expr: e.expr, apiserver: false }))];
  for (const { where, expr, apiserver } of read) {
    const names = metricNames(expr);
    t.ok(names.length > 0, `${where}: reads a metric`);
    for (const name of names) {
      if (exported.has(name)) continue;
      const reason = NOT_FROM_THE_SERVER[name];
      t.ok(reason !== undefined && (apiserver || !name.startsWith('apiserver_')), `${where}: ${name} is exported by the server${reason ? ` (or: ${reason})` : ''}`);
    }
  }
  const ours = [...exported].filter((name) => name.startsWith('sre_quero_'));
  const onDashboard = new Set(dashboardExprs.flatMap((e) => metricNames(e.expr)).map((name) => name.replace(/_(bucket|sum|count)$/, '')));
  for (const name of ours.filter((n) => !/_(bucket|sum|count)$/.test(n))) t.ok(onDashboard.has(name), `the dashboard shows ${name}`);
});

t.test('the dashboard: the data source is a variable, every query uses it, panels do not overlap', async (t) => {
  const variables = dashboard.templating.list as Json[];
  t.match(variables.find((v) => v.name === 'datasource'), { type: 'datasource', query: 'prometheus' });
  t.equal(dashboard.uid, 'sre-quero');
  const ids = (dashboard.panels as Json[]).map((p) => p.id);
  t.strictSame(ids, [...new Set(ids)], 'panel ids are unique');
  for (const panel of panels) {
    t.strictSame(panel.datasource, { type: 'prometheus', uid: '${datasource}' }, `${panel.title}: datasource`);
    for (const target of panel.targets as Json[]) t.strictSame(target.datasource, { type: 'prometheus', uid: '${datasource}' }, `${panel.title} ${target.refId}: datasource`);
  }
  const cells = new Set<string>();
  let overlaps = 0;
  for (const { gridPos: { x, y, w, h } } of dashboard.panels as Json[]) {
    t.ok(x + w <= 24, `x ${x} + w ${w} within the 24 columns`);
    for (let i = x; i < x + w; i++) for (let j = y; j < y + h; j++) overlaps += cells.has(`${i},${j}`) ? 1 : (cells.add(`${i},${j}`), 0);
  }
  t.equal(overlaps, 0, 'no two panels overlap');
  for (const title of ['Reviews by decision', 'Reviews by reason', 'Review time p50 / p99', 'Refusals by reason (per minute)', 'Injected sidecars by agent and mode (per minute)', 'Leaders', 'Reconciles by result (per minute)', 'Kubernetes API requests by verb (per minute)', 'Certificate expires in', 'Sidecar reloads in the range, by result']) {
    t.ok(panels.some((p) => p.title === title), `panel "${title}"`);
  }
});

const promtool = readProvisioned()?.promtool ?? join(cacheRoot(), `prometheus-v${PROMETHEUS_VERSION}`, 'promtool');
const helm = helmPath();
const kubectl = findBinaries()?.kubectl;
const executable = (path: string | undefined): boolean => {
  if (path === undefined) return false;
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
};

if (!executable(promtool)) {
  t.fail(`no promtool at ${promtool}, to check the alert rules: build it with \`bash test/cluster/provision.sh\` (Prometheus v${PROMETHEUS_VERSION} and promtool)`);
} else {
  const work = mkdtempSync(join(tmpdir(), 'sre-quero-promtool-'));
  t.teardown(() => rmSync(work, { recursive: true, force: true }));

  t.test('promtool check rules: valid, no lint findings', async (t) => {
    const result = spawnSync(promtool, ['check', 'rules', '--lint=all', '--lint-fatal', rulesFile], { encoding: 'utf8', timeout: 60_000 });
    t.equal(result.status, 0, `${result.stdout}${result.stderr}`);
    t.match(result.stdout, `SUCCESS: ${rules.length} rules found`);
  });

  t.test('promtool test rules: certificate expiry, escaped pods, no leader, nothing scraped, a 500, failing open', async (t) => {
    const result = spawnSync(promtool, ['test', 'rules', rulesTests], { encoding: 'utf8', timeout: 60_000 });
    t.equal(result.status, 0, `${result.stdout}${result.stderr}`);
    t.match(result.stdout, /SUCCESS/);
    const tested = new Set((parse(readFileSync(rulesTests, 'utf8')) as Json).tests.flatMap((test: Json) => test.alert_rule_test.map((a: Json) => a.alertname)));
    for (const alert of ['SreQueroCertificateExpiresSoon', 'SreQueroEscapedPods', 'SreQueroReconcilerNoLeader']) t.ok(tested.has(alert), `${alert} is unit-tested`);
  });

  t.test("the dashboard's queries are valid PromQL (promtool, as recording rules)", async (t) => {
    const file = join(work, 'dashboard-queries.yaml');
    const recorded = dashboardExprs.map(({ expr }, i) => ({ record: `dashboard:query_${i}`, expr: expr.replaceAll('$__rate_interval', '1m').replaceAll('$__range', '6h') }));
    writeFileSync(file, stringify({ groups: [{ name: 'dashboard', rules: recorded }] }));
    const result = spawnSync(promtool, ['check', 'rules', '--lint=none', file], { encoding: 'utf8', timeout: 60_000 });
    t.equal(result.status, 0, `${result.stdout}${result.stderr}`);
    t.match(result.stdout, `SUCCESS: ${recorded.length} rules found`);
  });
}

t.test('deploy/observability holds copies of the chart files (UPDATE_GOLDEN=1 rewrites them)', async (t) => {
  const copies: [string, string][] = [
    [join(kustomizeDir, 'prometheus-rule.yaml'), kustomizeRuleText()],
    [join(kustomizeDir, 'grafana-dashboard.json'), dashboardText],
  ];
  for (const [path, want] of copies) {
    if (process.env.UPDATE_GOLDEN === '1') writeFileSync(path, want);
    t.equal(readFileSync(path, 'utf8'), want, `${path.slice(repoRoot.length)}: identical to the chart's file (UPDATE_GOLDEN=1 to rewrite)`);
  }
  t.strictSame((parse(readFileSync(join(kustomizeDir, 'prometheus-rule.yaml'), 'utf8')) as Json).spec.groups, groups, 'the same groups, parsed');
});

if (!executable(helm)) {
  t.fail(HELM_HINT(helm));
} else {
  const { env, template, render } = helmRunner(t, helm, chart);
  const CRDS = ['ServiceMonitor', 'PodMonitor', 'PrometheusRule'].flatMap((kind) => ['--api-versions', `monitoring.coreos.com/v1/${kind}`]);
  const withCrds = (values?: Json, more: Partial<Parameters<typeof template>[0]> = {}) => render({ ...more, values, flags: [...CRDS, ...(more?.flags ?? [])] });
  const kinds = (objects: Json[]) => objects.filter((o) => o.apiVersion === 'monitoring.coreos.com/v1' || o.metadata.name.endsWith('-dashboard')).map((o) => o.kind).sort();
  const find = (objects: Json[], kind: string, name?: string): Json => {
    const found = objects.find((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
    if (found === undefined) throw new Error(`no ${kind}${name ? ` ${name}` : ''} rendered`);
    return found;
  };
  const alertsOf = (objects: Json[]): string[] => (find(objects, 'PrometheusRule').spec.groups as Group[]).flatMap((g) => g.rules.map((r) => r.alert));

  t.test('enabled: auto renders the ServiceMonitor and the PrometheusRule only where the CRDs are; true and false force it', async (t) => {
    t.strictSame(kinds(render()), [], 'no CRDs (helm template without --api-versions): none');
    t.strictSame(kinds(withCrds()), ['PrometheusRule', 'ServiceMonitor'], 'with the CRDs: both; PodMonitor and dashboard off by default');
    t.strictSame(kinds(render({ values: { monitoring: { serviceMonitor: { enabled: true }, prometheusRule: { enabled: true } } } })), ['PrometheusRule', 'ServiceMonitor'], 'true: without the CRDs too');
    t.strictSame(kinds(withCrds({ monitoring: { serviceMonitor: { enabled: false }, prometheusRule: { enabled: false } } })), [], 'false: not even with them');
    const onlyRules = render({ flags: ['--api-versions', 'monitoring.coreos.com/v1/PrometheusRule'] });
    t.strictSame(kinds(onlyRules), ['PrometheusRule'], 'each kind is looked up on its own');
    t.strictSame(kinds(withCrds({ monitoring: { sidecarPodMonitor: { enabled: true }, dashboard: { enabled: true } } })), ['ConfigMap', 'PodMonitor', 'PrometheusRule', 'ServiceMonitor'], 'PodMonitor and dashboard on');
    t.strictSame(kinds(render({ values: { monitoring: { sidecarPodMonitor: { enabled: 'auto' } } } })), [], 'PodMonitor auto without the CRD: none');
  });

  t.test('the PrometheusRule: the rules file, without the reconciler group when there is no reconciler, minus disabledAlerts', async (t) => {
    const rule = find(withCrds(), 'PrometheusRule');
    t.strictSame(rule.spec.groups, groups, 'files/prometheus-rules.yaml, group by group');
    t.equal(rule.metadata.namespace, 'sre-quero');
    t.equal(rule.metadata.labels['app.kubernetes.io/name'], 'sre-quero');
    const noReconciler = withCrds({ reconciler: { enabled: false } });
    t.notOk((find(noReconciler, 'PrometheusRule').spec.groups as Group[]).some((g) => g.name === 'sre-quero-reconciler'), 'reconciler.enabled=false: no reconciler alerts');
    t.ok(alertsOf(noReconciler).includes('SreQueroCertificateExpiresSoon'), 'the others stay');
    const tuned = withCrds({ monitoring: { prometheusRule: { disabledAlerts: ['SreQueroWebhookUnreachable', 'SreQueroRefusalsSpike'], labels: { release: 'kube-prometheus-stack' }, runbookBaseUrl: 'https://wiki.example.com/sre-quero/README.md' } } });
    const alerts = alertsOf(tuned);
    t.notOk(alerts.includes('SreQueroWebhookUnreachable') || alerts.includes('SreQueroRefusalsSpike'), 'disabledAlerts are left out');
    t.notOk((find(tuned, 'PrometheusRule').spec.groups as Group[]).some((g) => g.name === 'sre-quero-apiserver'), 'a group left empty goes too');
    t.equal(alerts.length, rules.length - 2);
    t.equal(find(tuned, 'PrometheusRule').metadata.labels.release, 'kube-prometheus-stack', 'labels for ruleSelector');
    for (const group of find(tuned, 'PrometheusRule').spec.groups as Group[]) {
      for (const rule of group.rules) t.equal(rule.annotations.runbook_url, `https://wiki.example.com/sre-quero/README.md#${rule.alert.toLowerCase()}`, `${rule.alert}: runbookBaseUrl`);
    }
    const other = withCrds(undefined, { release: 'logging', namespace: 'platform-logging' });
    t.strictSame([find(other, 'PrometheusRule').metadata.name, find(other, 'PrometheusRule').metadata.namespace], ['logging-sre-quero', 'platform-logging']);
  });

  t.test("the ServiceMonitor: the Service's HTTPS port, verified with the serving certificate's CA for the Service's name", async (t) => {
    const objects = withCrds();
    const monitor = find(objects, 'ServiceMonitor');
    const service = find(objects, 'Service');
    const deployment = find(objects, 'Deployment');
    t.equal(monitor.metadata.namespace, 'sre-quero');
    t.strictSame(monitor.spec.namespaceSelector, { matchNames: ['sre-quero'] });
    t.match(service.metadata.labels, monitor.spec.selector.matchLabels, 'selects the webhook Service');
    t.equal(monitor.spec.endpoints.length, 1);
    const [endpoint] = monitor.spec.endpoints;
    t.ok((service.spec.ports as Json[]).some((p) => p.name === endpoint.port && p.targetPort === 'https'), `port ${endpoint.port}: the Service's, to the pods' https port`);
    t.ok((deployment.spec.template.spec.containers[0].readinessProbe.httpGet.scheme as string) === 'HTTPS' && endpoint.scheme === 'https', 'https, as the server serves every path');
    t.match(endpoint, { path: '/metrics', interval: '30s', honorLabels: true });
    const secret = find(objects, 'Secret', endpoint.tlsConfig.ca.secret.name);
    t.equal(deployment.spec.template.spec.volumes.find((v: Json) => v.name === 'tls').secret.secretName, secret.metadata.name, 'the CA of the Secret the pods serve');
    const cert = new X509Certificate(Buffer.from(secret.data['tls.crt'], 'base64').toString('utf8'));
    t.ok(cert.checkIssued(new X509Certificate(Buffer.from(secret.data[endpoint.tlsConfig.ca.secret.key], 'base64').toString('utf8'))), 'ca.crt signed the serving certificate');
    t.ok(cert.subjectAltName?.split(', ').includes(`DNS:${endpoint.tlsConfig.serverName}`), `the certificate names ${endpoint.tlsConfig.serverName}`);
    t.notOk(endpoint.tlsConfig.insecureSkipVerify, 'verified');

    const certManager = find(withCrds({ certificates: { source: 'certManager' } }), 'ServiceMonitor');
    t.strictSame(certManager.spec.endpoints[0].tlsConfig.ca, { secret: { name: 'sre-quero-tls', key: 'ca.crt' } }, "certManager: the Certificate's Secret (ca.crt from the CA issuer)");
    const pem = makeCertificates({ commonName: 'corp', dnsNames: ['sre-quero.sre-quero.svc'], ipAddresses: [], validDays: 1 }).caCert;
    const existing = withCrds({ certificates: { source: 'existingSecret', existingSecret: { name: 'corp-tls', caBundle: Buffer.from(pem).toString('base64') } } });
    const bundle = find(existing, 'ConfigMap', 'sre-quero-ca-bundle');
    t.equal(bundle.data['ca.crt'], pem, 'existingSecret: its caBundle as a ConfigMap');
    t.strictSame(find(existing, 'ServiceMonitor').spec.endpoints[0].tlsConfig.ca, { configMap: { name: 'sre-quero-ca-bundle', key: 'ca.crt' } });
    const skip = withCrds({ certificates: { source: 'existingSecret', existingSecret: { name: 'corp-tls', caBundle: pem } }, monitoring: { serviceMonitor: { tlsConfig: { insecureSkipVerify: true }, interval: '1m', scrapeTimeout: '10s', labels: { release: 'kube-prometheus-stack' } } } });
    t.strictSame(find(skip, 'ServiceMonitor').spec.endpoints[0].tlsConfig, { insecureSkipVerify: true }, 'tlsConfig replaces the default');
    t.notOk(skip.some((o) => o.metadata.name === 'sre-quero-ca-bundle'), 'and the CA ConfigMap is not needed');
    t.match(find(skip, 'ServiceMonitor'), { metadata: { labels: { release: 'kube-prometheus-stack' } }, spec: { endpoints: [{ interval: '1m', scrapeTimeout: '10s' }] } });
    const other = find(withCrds(undefined, { release: 'logging', namespace: 'platform-logging' }), 'ServiceMonitor');
    t.strictSame(other.spec.namespaceSelector, { matchNames: ['platform-logging'] });
    t.match(other.spec.endpoints[0].tlsConfig, { serverName: 'logging-sre-quero.platform-logging.svc', ca: { secret: { name: 'logging-sre-quero-tls' } } });
  });

  t.test("the sidecars' PodMonitor (off by default): injected pods in every namespace, the sidecar's port", async (t) => {
    const monitor = find(withCrds({ monitoring: { sidecarPodMonitor: { enabled: true, interval: '15s', labels: { team: 'platform' } } } }), 'PodMonitor');
    t.strictSame(monitor.spec.namespaceSelector, { any: true });
    t.strictSame(monitor.spec.selector.matchLabels, { [INJECTED_LABEL]: 'true' }, 'the label every injected pod carries');
    t.strictSame(monitor.spec.podMetricsEndpoints, [{ port: LAYOUT.portName, path: '/metrics', interval: '15s' }], "the sidecar's named port");
    t.equal(monitor.metadata.labels.team, 'platform');
  });

  t.test('the dashboard ConfigMap (off by default): the JSON, the sidecar label, namespace and annotations', async (t) => {
    t.notOk(withCrds().some((o) => o.metadata.name === 'sre-quero-dashboard'), 'off by default');
    const map = find(render({ values: { monitoring: { dashboard: { enabled: true } } } }), 'ConfigMap', 'sre-quero-dashboard');
    t.equal(map.metadata.labels.grafana_dashboard, '1');
    t.equal(map.metadata.namespace, 'sre-quero');
    t.strictSame(JSON.parse(map.data['sre-quero.json']), dashboard, 'files/grafana-dashboard.json');
    const tuned = find(render({ values: { monitoring: { dashboard: { enabled: true, namespace: 'grafana', labels: { 'grafana.example.com/dashboard': 'yes' }, annotations: { grafana_folder: 'Platform' } } } } }), 'ConfigMap', 'sre-quero-dashboard');
    t.match(tuned.metadata, { namespace: 'grafana', labels: { 'grafana.example.com/dashboard': 'yes' }, annotations: { grafana_folder: 'Platform' } });
    t.equal(tuned.metadata.labels.grafana_dashboard, '1', "Helm merges maps: the default label stays");
    const replaced = find(render({ values: { monitoring: { dashboard: { enabled: true, labels: { grafana_dashboard: null, 'grafana.example.com/dashboard': 'yes' } } } } }), 'ConfigMap', 'sre-quero-dashboard');
    t.notOk('grafana_dashboard' in replaced.metadata.labels, 'null drops it');
  });

  t.test('helm lint --strict with every monitoring object; the schema refuses bad knobs', async (t) => {
    const lint = spawnSync(helm, ['lint', '--strict', chart, '--set', 'monitoring.serviceMonitor.enabled=true,monitoring.prometheusRule.enabled=true,monitoring.sidecarPodMonitor.enabled=true,monitoring.dashboard.enabled=true'], { encoding: 'utf8', env, timeout: 60_000 });
    t.equal(lint.status, 0, lint.stdout + lint.stderr);
    t.notMatch(lint.stdout, /\[(WARNING|ERROR)\]/);
    for (const [values, what] of [
      [{ monitoring: { serviceMonitor: { enabled: 'yes' } } }, 'enabled: yes'],
      [{ monitoring: { serviceMonitor: { interval: 'often' } } }, 'interval'],
      [{ monitoring: { prometheusRule: { disabledAlerts: ['CPUThrottlingHigh'] } } }, 'disabledAlerts: not ours'],
      [{ monitoring: { prometheusRule: { runbookBaseUrl: 'README.md#x' } } }, 'runbookBaseUrl'],
      [{ monitoring: { dashboard: { enabled: 'auto' } } }, 'dashboard: cannot be detected'],
      [{ monitoring: { grafana: {} } }, 'a misspelt key'],
    ] as const) {
      const result = template({ values });
      t.not(result.status, 0, what);
      t.match(result.stderr, /schema/i, `${what}: named by the schema`);
    }
  });

  t.test('kubectl kustomize deploy/observability: the objects the chart renders (release sre-quero, CRDs there, dashboard on)', async (t) => {
    if (kubectl === undefined) {
      t.fail(`kubectl kustomize needs the provisioned kubectl: ${ENABLE_HINT}`);
      return;
    }
    const kustomized = spawnSync(kubectl, ['kustomize', kustomizeDir], { encoding: 'utf8', timeout: 60_000 });
    t.equal(kustomized.status, 0, 'kubectl kustomize', { stderr: kustomized.stderr });
    const fromKustomize = parseAllDocuments(kustomized.stdout).map((doc) => doc.toJS() as Json).filter(Boolean);
    const key = (o: Json) => `${o.kind} ${o.metadata.namespace}/${o.metadata.name}`;
    const keys = new Set(fromKustomize.map(key));
    const fromHelm = withCrds({ monitoring: { dashboard: { enabled: true } } }).filter((o) => keys.has(key(o)));
    t.strictSame(fromKustomize.map(key).sort(), ['ConfigMap sre-quero/sre-quero-dashboard', 'PrometheusRule sre-quero/sre-quero', 'ServiceMonitor sre-quero/sre-quero']);
    t.strictSame(fromHelm.map(key).sort(), [...keys].sort(), 'the chart renders each');
    const comparable = (o: Json): Json => {
      const copy = structuredClone(o);
      for (const label of ['helm.sh/chart', 'app.kubernetes.io/managed-by', 'app.kubernetes.io/instance', 'app.kubernetes.io/version']) delete copy.metadata.labels[label];
      if (copy.kind === 'ConfigMap') copy.data = Object.fromEntries(Object.entries(copy.data as Record<string, string>).map(([k, v]) => [k, JSON.parse(v)]));
      return copy;
    };
    const helmByKey = new Map(fromHelm.map((o) => [key(o), o]));
    for (const object of fromKustomize) t.strictSame(comparable(helmByKey.get(key(object)) as Json), comparable(object), key(object));
  });
}
