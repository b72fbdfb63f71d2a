import { readFileSync, writeFileSync } from 'node:fs';
import t from 'tap';
import { ANNOTATIONS, DEFAULT_SETTINGS } from '../../src/injection/index.js';
import { applyResponse, decodePatch, fixtureUrl, recipeReview, testApp, type Json } from '../helpers/reviews.js';

const post = (app: TestApp['app'], body: unknown, url = '/mutate', contentType = 'application/json') =>
  app.inject({ method: 'POST', url, headers: { 'content-type': contentType }, payload: typeof body === 'string' ? body : JSON.stringify(body) });
type TestApp = ReturnType<typeof testApp>;

function withAnnotations(review: Json, annotations: Record<string, string>): Json {
  review.request.object.metadata.annotations = annotations;
  return review;
}

t.test('the recipe pod: the patch applied to the request object gives the expected pod', async (t) => {
  const { app } = testApp();
  const review = recipeReview();
  const reply = await post(app, review);
  t.equal(reply.statusCode, 200);
  t.match(reply.headers['content-type'], /application\/json/);
  const body = reply.json();
  t.equal(body.apiVersion, 'admission.k8s.io/v1');
  t.equal(body.kind, 'AdmissionReview');
  t.equal(body.response.uid, review.request.uid, 'uid is echoed');
  t.equal(body.response.allowed, true);
  t.equal(body.response.patchType, 'JSONPatch');
  t.notOk('warnings' in body.response, 'no warnings for a clean pod');

  const patched = applyResponse(review.request.object, body.response);
  const expectedUrl = fixtureUrl('reviews/simple-webapp.v1.patched-pod.json');
  if (process.env.UPDATE_GOLDEN === '1') writeFileSync(expectedUrl, `${JSON.stringify(patched, null, 2)}\n`);
  t.same(patched, JSON.parse(readFileSync(expectedUrl, 'utf8')), 'patched pod matches the reviewed golden file');

  // The layout, spelled out, so the golden file cannot drift unnoticed.
  const sidecar = patched.spec.containers[1];
  t.equal(sidecar.name, 'promtail');
  t.equal(sidecar.image, DEFAULT_SETTINGS.images.promtail);
  t.same(sidecar.ports, [{ name: 'promtail-http', containerPort: 9080, protocol: 'TCP' }]);
  t.same(sidecar.args.slice(0, 2), ['-config.file=/etc/promtail/promtail.yaml', '-config.expand-env=true']);
  t.same(patched.spec.containers[0].volumeMounts.at(-1), { name: 'shared-logs', mountPath: '/var/log/app' });
  t.same(patched.spec.volumes.slice(1), [
    { name: 'shared-logs', emptyDir: {} },
    { name: 'promtail-positions', emptyDir: {} },
    { name: 'promtail-config', configMap: { name: 'promtail-sidecar-config' } },
  ]);
  t.ok(patched.metadata.annotations[ANNOTATIONS.status], 'status annotation is set');
  t.same(patched.metadata.managedFields, review.request.object.metadata.managedFields, 'managedFields untouched');
});

t.test('injection is idempotent: the patched pod reviewed again gets no patch', async (t) => {
  const { app } = testApp();
  const review = recipeReview();
  const first = (await post(app, review)).json();
  review.request.object = applyResponse(review.request.object, first.response);
  const second = (await post(app, review)).json();
  t.same(second.response, { uid: review.request.uid, allowed: true });
});

t.test('a pod without annotations gets annotations and labels added whole (no add without a parent)', async (t) => {
  const { app } = testApp();
  const review = recipeReview();
  delete review.request.object.metadata.labels;
  delete review.request.object.metadata.annotations;
  const body = (await post(app, review, '/mutate/enabled')).json();
  const metadataOps = decodePatch(body.response).filter((op) => op.path.startsWith('/metadata'));
  t.same(metadataOps.map((op) => `${op.op} ${op.path}`).sort(), ['add /metadata/annotations', 'add /metadata/labels']);
  const patched = applyResponse(review.request.object, body.response);
  t.equal(patched.metadata.labels['logging.sre-quero/injected'], 'true');
});

t.test('v1beta1 is answered in v1beta1', async (t) => {
  const { app } = testApp();
  const review = recipeReview();
  review.apiVersion = 'admission.k8s.io/v1beta1';
  const body = (await post(app, review)).json();
  t.equal(body.apiVersion, 'admission.k8s.io/v1beta1');
  t.equal(body.response.uid, review.request.uid);
  t.equal(body.response.patchType, 'JSONPatch');
  t.equal(applyResponse(review.request.object, body.response).spec.containers[1].name, 'promtail');
});

t.test('anything that is not a Pod CREATE is allowed untouched', async (t) => {
  const { app, logLines } = testApp();
  const cases: [string, (review: Json) => void][] = [
    ['pod update', (r) => { r.request.operation = 'UPDATE'; r.request.oldObject = r.request.object; }],
    ['pod delete without object', (r) => { r.request.operation = 'DELETE'; r.request.object = null; }],
    ['a Service create', (r) => { r.request.kind = { group: '', version: 'v1', kind: 'Service' }; }],
    ['a Pod of another group', (r) => { r.request.kind = { group: 'example.com', version: 'v1', kind: 'Pod' }; }],
  ];
  for (const [name, change] of cases) {
    const review = recipeReview();
    change(review);
    const reply = await post(app, review);
    t.equal(reply.statusCode, 200, name);
    t.same(reply.json().response, { uid: review.request.uid, allowed: true }, name);
  }
  t.same(logLines().map((line) => line.reason), ['not_pod_create', 'not_pod_create', 'not_pod_create', 'not_pod_create']);
});

t.test('annotated mode: pods that do not ask, or opt out, are skipped', async (t) => {
  const { app, logLines } = testApp();
  for (const annotations of [{}, { [ANNOTATIONS.sidecar]: "false" }] as Record<string, string>[]) {
    const review = withAnnotations(recipeReview(), annotations);
    t.same((await post(app, review)).json().response, { uid: review.request.uid, allowed: true });
  }
  t.same(logLines().map((line) => [line.decision, line.reason]), [['skipped', 'not_requested'], ['skipped', 'opted_out']]);
});

t.test('namespace modes arrive by path', async (t) => {
  const { app } = testApp();
  const plain = withAnnotations(recipeReview(), {});
  const enabled = (await post(app, plain, '/mutate/enabled')).json();
  t.equal(enabled.response.patchType, 'JSONPatch', 'enabled namespace: an unannotated pod is injected');

  const optedOut = withAnnotations(recipeReview(), { [ANNOTATIONS.sidecar]: 'false' });
  t.same((await post(app, optedOut, '/mutate/enabled')).json().response, { uid: optedOut.request.uid, allowed: true }, 'enabled honours opt-out');

  const enforced = (await post(app, optedOut, '/mutate/enforced')).json();
  t.equal(enforced.response.allowed, true);
  t.equal(enforced.response.patchType, 'JSONPatch', 'enforced ignores opt-out');
  t.match(enforced.response.warnings, [/not honoured.*enforces/]);

  const unknownMode = await post(app, plain, '/mutate/sometimes');
  t.equal(unknownMode.statusCode, 404);
  t.equal(unknownMode.json().error, 'SQ_NOT_FOUND');
});

t.test('refusals: allowed false, a status code, and a message naming the annotation or conflict', async (t) => {
  const { app, logLines } = testApp();
  const hostile = withAnnotations(recipeReview(), { [ANNOTATIONS.sidecar]: 'true', [ANNOTATIONS.logPath]: '/etc' });
  const refused = (await post(app, hostile)).json();
  t.equal(refused.response.uid, hostile.request.uid);
  t.equal(refused.response.allowed, false);
  t.equal(refused.response.status.code, 400);
  t.equal(refused.response.status.reason, 'BadRequest');
  t.match(refused.response.status.message, /annotation logging\.sre-quero\/log-path: "\/etc" is not valid; expected an absolute folder/);
  t.notOk('patch' in refused.response);

  const conflicting = withAnnotations(recipeReview(), { [ANNOTATIONS.sidecar]: 'true' });
  conflicting.request.object.spec.containers[0].ports.push({ containerPort: 9080, protocol: 'TCP' });
  const conflict = (await post(app, conflicting)).json();
  t.equal(conflict.response.allowed, false);
  t.equal(conflict.response.status.code, 409);
  t.match(conflict.response.status.message, /container "main-application" already uses port 9080: set logging\.sre-quero\/metrics-port/);
  t.same(logLines().map((line) => [line.decision, line.reason]), [['refused', 'invalid_annotation'], ['refused', 'port_conflict']]);
});

t.test('warnings reach the API server', async (t) => {
  const { app } = testApp();
  const review = withAnnotations(recipeReview(), { [ANNOTATIONS.sidecar]: 'true', 'logging.sre-quero/log-pth': '/x' });
  const body = (await post(app, review)).json();
  t.same(body.response.warnings, ['unknown annotation logging.sre-quero/log-pth is ignored']);
});

t.test("the client's mistakes get a 400 with a JSON error that says what is wrong", async (t) => {
  const { app, metrics } = testApp();
  const review = recipeReview;
  const cases: [string, unknown, number, string, RegExp][] = [
    ['malformed JSON', '{"kind": "AdmissionReview", ', 400, 'FST_ERR_CTP_INVALID_JSON_BODY', /JSON/i],
    ['empty body', '', 400, 'FST_ERR_CTP_EMPTY_JSON_BODY', /empty/i],
    ['a JSON array', [], 400, 'SQ_INVALID_REVIEW', /body must be a JSON object/],
    ['wrong kind', { ...review(), kind: 'Pod' }, 400, 'SQ_INVALID_REVIEW', /kind must be "AdmissionReview", got "Pod"/],
    ['wrong apiVersion', { ...review(), apiVersion: 'v1' }, 400, 'SQ_INVALID_REVIEW', /apiVersion must be one of/],
    ['no request', { ...review(), request: undefined }, 400, 'SQ_INVALID_REVIEW', /request must be an object/],
    ['missing uid', (() => { const r = review(); delete r.request.uid; return r; })(), 400, 'SQ_INVALID_REVIEW', /request\.uid must be a non-empty string/],
    ['missing object', (() => { const r = review(); delete r.request.object; return r; })(), 400, 'SQ_INVALID_REVIEW', /request\.object is missing/],
    ['object that is not a pod', (() => { const r = review(); r.request.object.spec.containers = 'nginx'; return r; })(), 400, 'SQ_INVALID_REVIEW', /request\.object\.spec\.containers must be a non-empty list/],
    ['annotations that are not strings', (() => { const r = review(); r.request.object.metadata.annotations = { a: 1 }; return r; })(), 400, 'SQ_INVALID_REVIEW', /metadata\.annotations must map strings to strings/],
  ];
  for (const [name, body, status, code, message] of cases) {
    const reply = await post(app, body);
    t.equal(reply.statusCode, status, `${name}: status`);
    t.equal(reply.json().error, code, `${name}: error code`);
    t.match(reply.json().message, message, `${name}: message`);
  }
  const wrongType = await post(app, JSON.stringify(review()), '/mutate', 'text/plain');
  t.equal(wrongType.statusCode, 415);
  t.equal(wrongType.json().error, 'FST_ERR_CTP_INVALID_MEDIA_TYPE');
  t.match(await metrics.registry.getSingleMetricAsString('sre_quero_invalid_requests_total'), /code="SQ_INVALID_REVIEW"} 8$/m);
});

t.test('body limit: real-size reviews pass, oversized bodies get 413', async (t) => {
  const { app } = testApp();
  const big = recipeReview();
  // object + oldObject near the API server's object size cap. The bulk sits in
  // an env value: annotations past 256 KiB are a pod the API server refuses
  // (and the injector with it, see annotations_too_large).
  big.request.object.spec.containers[0].env = [{ name: 'BLOB', value: 'x'.repeat(3 * 1024 * 1024) }];
  const ok = await post(app, big);
  t.equal(ok.statusCode, 200);
  t.equal(ok.json().response.patchType, 'JSONPatch');

  const small = testApp({ bodyLimitBytes: 64 * 1024 });
  const tooLarge = await post(small.app, big);
  t.equal(tooLarge.statusCode, 413);
  t.equal(tooLarge.json().error, 'FST_ERR_CTP_BODY_TOO_LARGE');
});

t.test('a bug on our side is a 500 that hides internals, and is logged', async (t) => {
  const { promtail } = DEFAULT_SETTINGS.resources;
  const broken = { ...DEFAULT_SETTINGS, resources: { ...DEFAULT_SETTINGS.resources, promtail: { requests: { ...promtail.requests, cpu: 'not-a-quantity' }, limits: promtail.limits } } };
  const { app, logLines, metrics } = testApp({ settings: broken });
  t.match(await metrics.registry.getSingleMetricAsString('sre_quero_internal_errors_total'), /^sre_quero_internal_errors_total 0$/m, 'exported from the start, so increase() sees the first one');
  const review = withAnnotations(recipeReview(), { [ANNOTATIONS.sidecar]: 'true', [ANNOTATIONS.cpuLimit]: '1' });
  const reply = await post(app, review);
  t.equal(reply.statusCode, 500);
  t.same(reply.json(), { error: 'SQ_INTERNAL', message: 'internal error; see the webhook log' });
  t.ok(logLines().some((line) => line.level === 50 && line.msg === 'request failed'));
  t.match(await metrics.registry.getSingleMetricAsString('sre_quero_internal_errors_total'), /^sre_quero_internal_errors_total 1$/m, 'counted');
});

t.test('one structured log line per review, without object contents', async (t) => {
  const { app, logLines } = testApp();
  const review = recipeReview();
  review.request.name = '';
  review.request.object.metadata.name = undefined;
  review.request.object.metadata.generateName = 'simple-webapp-7c9f-';
  await post(app, review);
  const lines = logLines();
  t.equal(lines.length, 1);
  t.match(lines[0], {
    msg: 'admission review',
    uid: review.request.uid,
    namespace: 'shop',
    pod: 'simple-webapp-7c9f-',
    operation: 'CREATE',
    mode: 'annotated',
    decision: 'injected',
    reason: 'annotation_opt_in',
    durationMs: Number,
  });
  const raw = JSON.stringify(lines);
  t.notMatch(raw, /nginx|managedFields|default-token/, 'no object contents in the log');
  t.equal(lines[0]?.level, 20, 'a routine review is logged at debug');
});

t.test('at the default level info, refusals are logged and routine reviews only counted', async (t) => {
  const { app, logLines, metrics } = testApp({}, 'info');
  await post(app, recipeReview());
  const conflicting = recipeReview();
  conflicting.request.object.spec.containers[0].ports.push({ containerPort: 9080 });
  await post(app, conflicting);
  const lines = logLines();
  t.equal(lines.length, 1, 'one line: the refusal');
  t.match(lines[0], { level: 30, msg: 'admission review', decision: 'refused', reason: 'port_conflict' });
  const counted = (await metrics.registry.getSingleMetricAsString('sre_quero_admission_reviews_total')).split('\n');
  t.ok(counted.includes('sre_quero_admission_reviews_total{mode="annotated",decision="injected",reason="annotation_opt_in"} 1'), 'the injection is counted');
  t.ok(counted.includes('sre_quero_admission_reviews_total{mode="annotated",decision="refused",reason="port_conflict"} 1'), 'so is the refusal');
});

t.test('health, readiness and metrics', async (t) => {
  let ready = false;
  const { app } = testApp({ isReady: () => ready });
  t.equal((await app.inject({ url: '/healthz' })).statusCode, 200);
  t.equal((await app.inject({ url: '/readyz' })).statusCode, 503);
  ready = true;
  t.equal((await app.inject({ url: '/readyz' })).statusCode, 200);
  await post(app, recipeReview());
  const metrics = await app.inject({ url: '/metrics' });
  t.equal(metrics.statusCode, 200);
  t.match(metrics.body, /sre_quero_admission_reviews_total\{mode="annotated",decision="injected",reason="annotation_opt_in"\} 1/);
  t.match(metrics.body, /sre_quero_admission_review_duration_seconds_count\{mode="annotated"\} 1/);
});

t.test('sidecar mode auto: the server asks its node facts per review; the log line and a metric say what was chosen and why', async (t) => {
  let versions = new Map([['n1', 'v1.37.2']]);
  const { app, logLines, metrics } = testApp({ settings: { ...DEFAULT_SETTINGS, sidecarMode: 'auto' }, nodes: () => ({ kubeletVersions: versions }) });
  const send = async () => {
    const review = withAnnotations(recipeReview(), { [ANNOTATIONS.sidecar]: 'true' });
    const reply = await app.inject({ method: 'POST', url: '/mutate', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(review) });
    return applyResponse(review.request.object, reply.json().response);
  };
  t.same((await send()).spec.initContainers.map((c: Json) => c.name), ['promtail'], 'all nodes new: native');
  t.match(logLines().at(-1), { decision: 'injected', sidecarMode: 'native', sidecarModeFrom: 'settings', sidecarModeReason: 'nodes_support_native' });
  versions = new Map([['n1', 'v1.37.2'], ['n2', 'v1.29.0']]);
  const classic = await send();
  t.equal(classic.spec.initContainers, undefined, 'a node joined that is too old: classic, at the next review');
  t.match(logLines().at(-1), { sidecarMode: 'classic', sidecarModeReason: 'node_too_old' });
  const metric = await metrics.registry.getSingleMetricAsString('sre_quero_injected_sidecars_total');
  t.match(metric, /sre_quero_injected_sidecars_total\{sidecar_mode="native",chosen_by="auto:nodes_support_native",agent="promtail"\} 1/);
  t.match(metric, /sre_quero_injected_sidecars_total\{sidecar_mode="classic",chosen_by="auto:node_too_old",agent="promtail"\} 1/);
});

t.test('an alloy pod: the same contract (container, port, volumes, status), alloy\'s command line; counted and logged by agent', async (t) => {
  const { app, logLines, metrics } = testApp();
  const review = withAnnotations(recipeReview(), { [ANNOTATIONS.sidecar]: 'true', [ANNOTATIONS.agent]: 'alloy' });
  const body = (await post(app, review)).json();
  t.equal(body.response.allowed, true);
  t.notOk('warnings' in body.response, 'the agent annotation is a known key');
  const patched = applyResponse(review.request.object, body.response);
  const sidecar = patched.spec.containers[1];
  t.equal(sidecar.name, 'promtail', 'the container keeps its name: the enforcement policy and selectors rely on it');
  t.equal(sidecar.image, DEFAULT_SETTINGS.images.alloy);
  t.same(sidecar.args, ['run', '/etc/promtail/config.alloy', '--server.http.listen-addr=:9080', '--storage.path=/run/promtail', '--disable-reporting', '--server.http.disable-support-bundle']);
  t.same(sidecar.ports, [{ name: 'promtail-http', containerPort: 9080, protocol: 'TCP' }]);
  t.same(sidecar.startupProbe, { tcpSocket: { port: 'promtail-http' }, periodSeconds: 1, failureThreshold: 60 });
  t.notOk('readinessProbe' in sidecar, 'no readiness probe, as for promtail');
  t.same(sidecar.volumeMounts, [
    { name: 'shared-logs', mountPath: '/var/log/app', readOnly: true },
    { name: 'promtail-config', mountPath: '/etc/promtail', readOnly: true },
    { name: 'promtail-positions', mountPath: '/run/promtail' },
    { name: 'promtail-tmp', mountPath: '/tmp' },
  ]);
  t.same(patched.spec.volumes.slice(1), [
    { name: 'shared-logs', emptyDir: {} },
    { name: 'promtail-positions', emptyDir: {} },
    { name: 'promtail-config', configMap: { name: 'promtail-sidecar-config' } },
    { name: 'promtail-tmp', emptyDir: {} },
  ]);
  t.match(JSON.parse(patched.metadata.annotations[ANNOTATIONS.status]), { sidecar: 'promtail', agent: 'alloy', image: 'grafana/alloy:v1.19.2', metricsPort: 9080 });
  t.match(logLines().at(-1), { decision: 'injected', agent: 'alloy', agentFrom: 'annotation' });
  const metric = await metrics.registry.getSingleMetricAsString('sre_quero_injected_sidecars_total');
  t.match(metric, /sre_quero_injected_sidecars_total\{sidecar_mode="classic",chosen_by="settings",agent="alloy"\} 1/);

  review.request.object = patched;
  t.same((await post(app, review)).json().response, { uid: review.request.uid, allowed: true }, 'idempotent');
});

t.test('the agent annotation: an unknown agent, or one the settings forbid, is refused with what is allowed', async (t) => {
  const { app } = testApp({ settings: { ...DEFAULT_SETTINGS, agent: 'alloy', allowedAgents: ['alloy'] } });
  const unknown = (await post(app, withAnnotations(recipeReview(), { [ANNOTATIONS.sidecar]: 'true', [ANNOTATIONS.agent]: 'fluentd' }))).json();
  t.equal(unknown.response.allowed, false);
  t.equal(unknown.response.status.code, 400);
  t.equal(unknown.response.status.message, 'annotation logging.sre-quero/agent: "fluentd" is not valid; expected "promtail" or "alloy"');
  const forbidden = (await post(app, withAnnotations(recipeReview(), { [ANNOTATIONS.sidecar]: 'true', [ANNOTATIONS.agent]: 'promtail' }))).json();
  t.equal(forbidden.response.status.code, 400);
  t.equal(forbidden.response.status.message, 'annotation logging.sre-quero/agent: "promtail" is not allowed here; expected "alloy" (the agents the platform allows, settings allowedAgents)');
  const image = (await post(app, withAnnotations(recipeReview(), { [ANNOTATIONS.sidecar]: 'true', [ANNOTATIONS.image]: 'grafana/promtail:3.6.11' }))).json();
  t.match(image.response.status.message, /^annotation logging\.sre-quero\/image: "grafana\/promtail:3\.6\.11" is not valid; expected an image of grafana\/alloy or docker\.io\/grafana\/alloy .*\(the pod runs the alloy agent\)$/);
  const plain = (await post(app, withAnnotations(recipeReview(), { [ANNOTATIONS.sidecar]: 'true' }))).json();
  t.equal(applyResponse(recipeReview().request.object, plain.response).spec.containers[1].image, 'grafana/alloy:v1.19.2', 'the settings\' agent');
});
