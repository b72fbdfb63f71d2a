import t from 'tap';
import { applyResponse, recipeReview, testApp } from '../helpers/reviews.js';

const validate = (app: ReturnType<typeof testApp>['app'], body: unknown) =>
  app.inject({ method: 'POST', url: '/validate/enforced', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(body) });

t.test('enforced namespaces: a pod without the sidecar is refused with the why and the fix', async (t) => {
  const { app, logLines } = testApp();
  const review = recipeReview();
  const body = (await validate(app, review)).json();
  t.equal(body.response.uid, review.request.uid);
  t.equal(body.response.allowed, false);
  t.equal(body.response.status.code, 403);
  t.equal(body.response.status.reason, 'Forbidden');
  t.match(body.response.status.message, /^pod lacks the logging sidecar that namespace shop enforces \(label logging\.sre-quero\/injection=enforced/);
  t.match(body.response.status.message, /created while the sre-quero injector was unreachable/);
  t.match(body.response.status.message, /Recreate it once the injector is healthy/);
  t.match(logLines()[0], { mode: 'validate-enforced', decision: 'refused', reason: 'sidecar_missing' });
});

t.test('enforced namespaces: an injected pod passes; other requests pass untouched', async (t) => {
  const { app } = testApp();
  const review = recipeReview();
  const mutated = (await app.inject({ method: 'POST', url: '/mutate/enforced', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(review) })).json();
  review.request.object = applyResponse(review.request.object, mutated.response);
  t.same((await validate(app, review)).json().response, { uid: review.request.uid, allowed: true });

  const update = recipeReview();
  update.request.operation = 'UPDATE';
  t.same((await validate(app, update)).json().response, { uid: update.request.uid, allowed: true });

  const malformed = await validate(app, { kind: 'AdmissionReview' });
  t.equal(malformed.statusCode, 400);
});

t.test('enforced namespaces: a pod with the native sidecar (an init container) passes', async (t) => {
  const { app } = testApp();
  const review = recipeReview();
  review.request.object.metadata.annotations = { ...review.request.object.metadata.annotations, 'logging.sre-quero/sidecar-mode': 'native' };
  const mutated = (await app.inject({ method: 'POST', url: '/mutate/enforced', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(review) })).json();
  review.request.object = applyResponse(review.request.object, mutated.response);
  t.same(review.request.object.spec.initContainers.map((c: { name: string }) => c.name), ['promtail']);
  t.same((await validate(app, review)).json().response, { uid: review.request.uid, allowed: true });
});

t.test('enforced namespaces: a Windows pod, which the injector skips, is not refused for lacking the sidecar', async (t) => {
  const { app, logLines } = testApp();
  const review = recipeReview();
  review.request.object.spec.os = { name: 'windows' };
  const mutated = (await app.inject({ method: 'POST', url: '/mutate/enforced', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(review) })).json();
  t.same(mutated.response, { uid: review.request.uid, allowed: true }, 'no patch');
  t.same((await validate(app, review)).json().response, { uid: review.request.uid, allowed: true });
  t.match(logLines().at(-1), { mode: 'validate-enforced', decision: 'allowed', reason: 'windows_pod' });
});
