import t from 'tap';
import type { RefusedPod } from '../../src/admission/refusal-events.js';
import { recipeReview, testApp, type Json } from '../helpers/reviews.js';

// The webhook tells each refused pod to the refusal recorder (an Event on its
// owner, test/unit/refusal-events.test.ts): with what the answer says, and
// without holding the answer back. Injected, skipped and malformed reviews
// are not told.

function reviewWith(annotations: Record<string, string>, metadata: Json = {}): Json {
  const review = recipeReview();
  review.request.object.metadata = { ...review.request.object.metadata, ...metadata, annotations };
  return review;
}

function setup() {
  const told: RefusedPod[] = [];
  const served = testApp({ refusals: { report: (refused) => told.push(refused) } });
  const post = async (review: Json, url = '/mutate') => (await served.app.inject({ method: 'POST', url, payload: review })).json();
  return { told, post };
}

const owner = { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-7d9f', uid: 'rs-uid', controller: true };

t.test('a refused pod is told, with its namespace, identity, reason and the message the API server shows', async (t) => {
  const { told, post } = setup();
  const review = reviewWith({ 'logging.sre-quero/sidecar': 'true', 'logging.sre-quero/log-path': '/etc' }, { name: undefined, generateName: 'web-7d9f-', ownerReferences: [owner] });
  const answer = await post(review);
  t.equal(answer.response.allowed, false);
  t.same(told, [
    {
      namespace: review.request.namespace,
      pod: { name: undefined, generateName: 'web-7d9f-', uid: undefined, ownerReferences: [owner] },
      reason: 'invalid_annotation',
      message: answer.response.status.message,
    },
  ]);
});

t.test('injected, skipped and enforcement answers are not told', async (t) => {
  const { told, post } = setup();
  t.equal((await post(reviewWith({ 'logging.sre-quero/sidecar': 'true' }))).response.allowed, true);
  t.equal((await post(reviewWith({ 'logging.sre-quero/sidecar': 'false' }))).response.allowed, true);
  t.equal((await post(reviewWith({}), '/validate/enforced')).response.allowed, false, 'the enforcement check refuses');
  t.same(told, []);
});

t.test('a review without a namespace, or with malformed owner references, answers as usual', async (t) => {
  const { told, post } = setup();
  const bad = { 'logging.sre-quero/sidecar': 'yes please' };
  const noNamespace = reviewWith(bad);
  delete noNamespace.request.namespace;
  t.equal((await post(noNamespace)).response.allowed, false);
  t.same(told, [], 'no namespace: nothing to put an Event in');
  const odd = reviewWith(bad, { uid: 42, ownerReferences: 'nonsense' });
  const answer = await post(odd);
  t.equal(answer.response.allowed, false);
  t.match(told, [{ pod: { uid: undefined, ownerReferences: 'nonsense' }, reason: 'invalid_annotation' }], 'told as it came; the recorder checks the references');
});
