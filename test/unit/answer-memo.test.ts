import t from 'tap';
import { ANSWER_MEMO_LIMITS, AnswerMemo, answerKey } from '../../src/admission/answer-memo.js';
import { answerReview, type ReviewOutcome } from '../../src/admission/handle.js';
import { readReview } from '../../src/admission/review.js';
import { ANNOTATIONS, DEFAULT_SETTINGS, type InjectorSettings, type Mode, type NodeFacts } from '../../src/injection/index.js';
import { largeReview } from '../../bench/reviews.js';
import { adversarialCase } from '../helpers/adversarial.js';
import { recipeReview, testApp, type Json } from '../helpers/reviews.js';

// The memo may only ever answer what answerReview answers without it, byte
// for byte: for the first review of a pod (a miss) and for the next ones (a
// hit), whatever the fields it leaves out of its key, the key order, the
// settings and the node facts. Reviews go through JSON text, as the server's
// do (its bodies are parsed JSON).

interface Input {
  /** The review's JSON text. */
  text: string;
  settings: InjectorSettings;
  mode: Mode;
  nodes: NodeFacts | undefined;
}

const plain = ({ text, settings, mode, nodes }: Input): ReviewOutcome => answerReview(readReview(JSON.parse(text)), settings, mode, nodes);
const memoized = (memo: AnswerMemo, { text, settings, mode, nodes }: Input): ReviewOutcome => answerReview(readReview(JSON.parse(text)), settings, mode, nodes, undefined, memo);

/** Answers `input` through the memo and says how it differs from the plain answer, and whether the memo found it. */
function check(memo: AnswerMemo, input: Input): { problem: string | undefined; hit: boolean } {
  const before = memo.stats().hits;
  const expected = plain(input);
  const got = memoized(memo, input);
  const hit = memo.stats().hits > before;
  const problem = JSON.stringify(got) === JSON.stringify(expected) ? undefined : `memoized ${JSON.stringify(got).slice(0, 400)}\n   plain ${JSON.stringify(expected).slice(0, 400)}`;
  return { problem, hit };
}

/** Keys every review, whatever the hit rate (the routes' memo keys one in 16 while few are found). */
const KEY_EVERY = { ...ANSWER_MEMO_LIMITS, coldSample: 1 };

const reversed = (value: Json): Json => Object.fromEntries(Object.entries(value).reverse());

/** What differs between pods of one workload at admission, none of which the injection reads. */
function volatile(review: Json, n: number): Json {
  const copy = structuredClone(review);
  copy.request.uid = `uid-${n}`;
  const pod = copy.request.object;
  if (pod.metadata === undefined) return copy;
  pod.metadata.name = `web-7d9f8c6b5d-${n.toString(36).padStart(5, 'x')}`;
  pod.metadata.uid = `0d3f6a52-0000-4e8f-9a7d-${String(n).padStart(12, '0')}`;
  pod.metadata.resourceVersion = String(1000 + n);
  pod.metadata.creationTimestamp = n % 2 === 0 ? null : `2026-11-23T07:${String(n % 60).padStart(2, '0')}:00Z`;
  pod.metadata.managedFields = [{ manager: 'kube-controller-manager', operation: 'Update', apiVersion: 'v1', time: `2026-11-23T07:00:${String(n % 60).padStart(2, '0')}Z`, fieldsType: 'FieldsV1', fieldsV1: { 'f:metadata': { [`f:n${n}`]: {} } } }];
  return copy;
}

t.test('adversarial reviews: the memo answers as answerReview, on the first review of a pod and on its repeats', async (t) => {
  const CASES = 1500;
  const memo = new AnswerMemo(KEY_EVERY);
  const problems: string[] = [];
  let hits = 0;
  let repeats = 0;
  for (let seed = 1; seed <= CASES; seed++) {
    const { review, settings, mode, nodes } = adversarialCase(seed);
    const input = (r: Json): Input => ({ text: JSON.stringify(r), settings, mode, nodes });
    let problem: string | undefined;
    try {
      readReview(JSON.parse(JSON.stringify(review)));
    } catch {
      continue; // A malformed review never reaches an answer.
    }
    // The first (a miss), the same again (a hit); the pod with a uid, a resourceVersion and managedFields
    // (a miss: the key keeps which fields a pod has), then as another member of its workload (a hit).
    for (const [r, repeat] of [[review, false], [review, true], [volatile(review, seed), false], [volatile(review, seed + 1), true]] as const) {
      const result = check(memo, input(r));
      problem ??= result.problem;
      if (repeat) {
        repeats++;
        if (result.hit) hits++;
      }
    }
    if (problem !== undefined && problems.length < 5) problems.push(`seed ${seed}: ${problem}`);
  }
  t.same(problems, [], 'every answer the same bytes, verdict, reason, sidecar and message');
  // Not every repeat can hit: settings and node facts objects differ between cases, and keys with null or
  // over the size limit are not kept. Most do.
  t.ok(hits > repeats * 0.8, `repeats found in the memo: ${hits} of ${repeats}`);
});

t.test('the recipe, the large pod and their variations: key order, annotations, labels, modes', async (t) => {
  const variations: [string, (review: Json) => void][] = [
    ['as is', () => {}],
    ['metadata keys reversed', (r) => (r.request.object.metadata = reversed(r.request.object.metadata))],
    ['spec keys reversed', (r) => (r.request.object.spec = reversed(r.request.object.spec))],
    ['pod keys reversed', (r) => (r.request.object = reversed(r.request.object))],
    ['labels reversed, one more', (r) => (r.request.object.metadata.labels = reversed({ ...r.request.object.metadata.labels, tier: 'web' }))],
    ['another job label', (r) => (r.request.object.metadata.labels = { ...r.request.object.metadata.labels, app: 'other-app' })],
    ['native', (r) => (r.request.object.metadata.annotations = { ...r.request.object.metadata.annotations, [ANNOTATIONS.sidecarMode]: 'native' })],
    ['native, annotations reversed', (r) => (r.request.object.metadata.annotations = reversed({ ...r.request.object.metadata.annotations, [ANNOTATIONS.sidecarMode]: 'native' }))],
    ['auto', (r) => (r.request.object.metadata.annotations = { ...r.request.object.metadata.annotations, [ANNOTATIONS.sidecarMode]: 'auto' })],
    ['opted out', (r) => (r.request.object.metadata.annotations = { ...r.request.object.metadata.annotations, [ANNOTATIONS.sidecar]: 'false' })],
    ['a bad port annotation (refused)', (r) => (r.request.object.metadata.annotations = { ...r.request.object.metadata.annotations, [ANNOTATIONS.metricsPort]: '70000' })],
    ['port taken (refused)', (r) => r.request.object.spec.containers[0].ports.push({ containerPort: 9080 })],
    ['no labels, no annotations', (r) => {
      delete r.request.object.metadata.labels;
      delete r.request.object.metadata.annotations;
    }],
    ['no metadata', (r) => delete r.request.object.metadata],
    ['no volumes, no mounts', (r) => {
      delete r.request.object.spec.volumes;
      for (const c of r.request.object.spec.containers) delete c.volumeMounts;
    }],
    ['a node name', (r) => (r.request.object.spec.nodeName = 'n2')],
    ['another namespace', (r) => (r.request.object.metadata.namespace = 'other')],
  ];
  const bases: [string, () => Json][] = [
    ['recipe', recipeReview],
    ['large', () => JSON.parse(largeReview().body)],
  ];
  const nodesA: NodeFacts = { kubeletVersions: new Map([['n1', 'v1.37.2'], ['n2', 'v1.37.2']]) };
  const nodesB: NodeFacts = { kubeletVersions: new Map([['n1', 'v1.37.2'], ['n2', 'v1.28.0']]) };
  const alloy: InjectorSettings = { ...DEFAULT_SETTINGS, agent: 'alloy', sidecarMode: 'auto' };
  const contexts: [string, InjectorSettings, NodeFacts | undefined][] = [
    ['defaults', DEFAULT_SETTINGS, undefined],
    ['defaults, nodes A', DEFAULT_SETTINGS, nodesA],
    ['alloy auto, nodes A', alloy, nodesA],
    ['alloy auto, nodes B', alloy, nodesB],
    ['alloy auto, no nodes', alloy, undefined],
  ];
  // Keys of the large pod are above the routes' limit: raised here, so that its answers are kept too.
  const memo = new AnswerMemo({ ...KEY_EVERY, keyChars: 256 * 1024 });
  const problems: string[] = [];
  const answers = new Map<string, Set<string>>();
  let hits = 0;
  let repeats = 0;
  // Twice over, so each context comes back after the others: the memo starts again each time it changes.
  for (let round = 0; round < 2; round++) {
    for (const [context, settings, nodes] of contexts) {
      for (const mode of ['annotated', 'enabled', 'enforced'] as const) {
        for (const [base, make] of bases) {
          for (const [variation, edit] of variations) {
            const review = make();
            review.request.object.metadata.annotations = { ...review.request.object.metadata.annotations, [ANNOTATIONS.sidecar]: 'true' };
            edit(review);
            // As is, then as three members of one workload: the second and third are repeats.
            for (let n = 0; n < 4; n++) {
              const input = { text: JSON.stringify(n === 0 ? review : volatile(review, n)), settings, mode, nodes };
              const { problem, hit } = check(memo, input);
              if (problem !== undefined && problems.length < 5) problems.push(`${base}, ${variation}, ${context}, ${mode}, #${n}: ${problem}`);
              if (n > 1) {
                repeats++;
                if (hit) hits++;
              }
              if (n === 0 && round === 0 && mode === 'annotated' && context === 'defaults') {
                const patch = (JSON.parse(plain(input).answer) as Json).response.patch ?? '';
                answers.set(`${base}:${variation}`, new Set([patch]));
              }
            }
          }
        }
      }
    }
  }
  t.same(problems, [], 'every answer the same as without the memo');
  t.equal(hits, repeats, 'every member of a workload after the first is found');
  // The orders change the patch (its operations follow the key order), and the memo told them apart.
  const patchOf = (variation: string) => [...(answers.get(`recipe:${variation}`) ?? [])][0];
  t.not(patchOf('metadata keys reversed'), patchOf('as is'), 'metadata key order changes the patch');
  t.not(patchOf('spec keys reversed'), patchOf('as is'), 'spec key order changes the patch');
});

t.test('the key: what it leaves out keeps its place; null and oversized pods are not kept', async (t) => {
  const pod = (metadata: Json) => ({ metadata, spec: { containers: [{ name: 'a' }] } });
  const a = answerKey(pod({ name: 'x-1', labels: { app: 'a' }, uid: 'u1', managedFields: [{ time: '1' }], resourceVersion: '1', creationTimestamp: '2026-11-23T00:00:00Z' }) as never);
  const b = answerKey(pod({ name: 'x-2', labels: { app: 'a' }, uid: 'u2', managedFields: [], resourceVersion: '2', creationTimestamp: '2026-11-23T00:00:01Z' }) as never);
  t.equal(a, b, 'name, uid, managedFields, resourceVersion and creationTimestamp are left out');
  t.not(answerKey(pod({ labels: { app: 'a' }, name: 'x' }) as never), answerKey(pod({ name: 'x', labels: { app: 'a' } }) as never), 'but not their place');
  t.not(answerKey(pod({ name: 'x' }) as never), answerKey(pod({}) as never), 'nor whether they are there');
  t.not(answerKey(pod({ generateName: 'x-' }) as never), answerKey(pod({ generateName: 'y-' }) as never), 'generateName is in it');
  t.equal(answerKey(pod({ name: 'x', creationTimestamp: null }) as never)?.includes('null'), false, 'a null creationTimestamp is blanked too');
  t.equal(answerKey(pod({ annotations: { a: 'null' } }) as never), undefined, 'null anywhere else: not kept');
  t.equal(answerKey(pod({ annotations: { a: 'x'.repeat(100) } }) as never, 50), undefined, 'a key over the limit: not kept');
  const original = pod({ name: 'x', uid: 'u' });
  answerKey(original as never);
  t.same(original, pod({ name: 'x', uid: 'u' }), 'the pod is not changed');
});

t.test('1e400 and null are written alike, and answered differently: neither is kept', async (t) => {
  const text = (emptyDir: string) => {
    const review = recipeReview();
    review.request.object.spec.volumes.push({ name: 'shared-logs', emptyDir: '@' });
    return JSON.stringify(review).replace('"@"', emptyDir);
  };
  const memo = new AnswerMemo();
  const infinite = { text: text('1e400'), settings: DEFAULT_SETTINGS, mode: 'annotated' as const, nodes: undefined };
  const nulled = { ...infinite, text: text('null') };
  t.not(plain(infinite).verdict, plain(nulled).verdict, 'the injection tells them apart (typeof)');
  for (const input of [infinite, nulled, infinite, nulled]) t.equal(check(memo, input).problem, undefined);
  t.match(memo.stats(), { hits: 0, misses: 4, unkeyed: 0, entries: 0, chars: 0 });
  // -0 is written 0, and the injection compares numbers with ===: the same answer.
  const zero = (value: string) => ({ ...infinite, text: JSON.stringify(recipeReview()).replace('"containerPort":80', `"containerPort":${value}`) });
  t.equal(check(memo, zero('0')).problem, undefined);
  t.same(check(memo, zero('-0')), { problem: undefined, hit: true }, '-0 found as 0, and answered the same');
});

t.test('bounds: entries and characters; the oldest go first; answers stay right', async (t) => {
  const recipe = (app: string) => {
    const review = recipeReview();
    review.request.object.metadata.labels.app = app;
    return { text: JSON.stringify(review), settings: DEFAULT_SETTINGS, mode: 'annotated' as const, nodes: undefined };
  };
  const memo = new AnswerMemo({ ...ANSWER_MEMO_LIMITS, entries: 2, chars: 1_000_000, keyChars: 100_000 });
  for (const app of ['a', 'b', 'c', 'a']) t.same(check(memo, recipe(app)), { problem: undefined, hit: false }, `${app}: made`);
  t.same(check(memo, recipe('a')), { problem: undefined, hit: true }, 'a: kept');
  t.equal(memo.stats().entries, 2);

  const one = check(new AnswerMemo({ ...ANSWER_MEMO_LIMITS, entries: 10, chars: 10, keyChars: 100_000 }), recipe('a'));
  t.same(one, { problem: undefined, hit: false }, 'an answer larger than the budget is answered, not kept');
  const small = new AnswerMemo({ ...ANSWER_MEMO_LIMITS, entries: 10, chars: 9000, keyChars: 100_000 });
  for (const app of ['a', 'b', 'c', 'd', 'e']) check(small, recipe(app));
  t.ok(small.stats().chars <= 9000 && small.stats().entries < 5, `within the character budget: ${JSON.stringify(small.stats())}`);
  t.same(check(small, recipe('e')), { problem: undefined, hit: true }, 'the newest kept');
  t.same(check(new AnswerMemo({ ...ANSWER_MEMO_LIMITS, entries: 0, chars: 1_000_000, keyChars: 100_000 }), recipe('a')), { problem: undefined, hit: false }, 'no entries: nothing kept');
});

t.test('kept answers are frozen: a caller cannot change what the next review gets', async (t) => {
  const memo = new AnswerMemo();
  const answer = memo.answer(recipeReview().request.object, DEFAULT_SETTINGS, 'annotated', undefined);
  t.ok(Object.isFrozen(answer) && Object.isFrozen(answer.sidecar));
  t.equal(memo.answer(recipeReview().request.object, DEFAULT_SETTINGS, 'annotated', undefined), answer, 'the same object');
});

t.test('the server: a repeated pod is counted and logged per review, with its own uid', async (t) => {
  const { app, logLines, metrics } = testApp();
  const uids: string[] = [];
  for (let n = 0; n < 3; n++) {
    const review = volatile(recipeReview(), n);
    const reply = await app.inject({ method: 'POST', url: '/mutate', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(review) });
    const expected = plain({ text: JSON.stringify(review), settings: DEFAULT_SETTINGS, mode: 'annotated', nodes: undefined });
    t.equal(reply.payload, expected.answer, `review ${n}: the same bytes as without the memo`);
    uids.push(reply.json().response.uid);
  }
  t.same(uids, ['uid-0', 'uid-1', 'uid-2']);
  t.same(logLines().filter((line) => line.msg === 'admission review').map((line) => [line.uid, line.decision]), [['uid-0', 'injected'], ['uid-1', 'injected'], ['uid-2', 'injected']]);
  t.match(await metrics.registry.getSingleMetricAsString('sre_quero_admission_reviews_total'), /decision="injected",reason="annotation_opt_in"\} 3/);
  t.match(await metrics.registry.getSingleMetricAsString('sre_quero_injected_sidecars_total'), /\} 3/);
});

t.test('the server: a large body, or one of unknown size, is answered the same', async (t) => {
  const { Readable } = await import('node:stream');
  const { app } = testApp();
  const large = JSON.parse(largeReview().body);
  for (const [what, review, payload] of [
    ['large (above the memo limit)', large, JSON.stringify(large)],
    ['large again', large, JSON.stringify(large)],
    ['a stream: no content-length', recipeReview(), () => Readable.from([JSON.stringify(recipeReview())])],
  ] as const) {
    const reply = await app.inject({ method: 'POST', url: '/mutate', headers: { 'content-type': 'application/json' }, payload: typeof payload === 'string' ? payload : payload() });
    t.equal(reply.payload, plain({ text: JSON.stringify(review), settings: DEFAULT_SETTINGS, mode: 'annotated', nodes: undefined }).answer, what);
  }
  t.ok(JSON.stringify(large).length > ANSWER_MEMO_LIMITS.bodyBytes, 'the large review is above the limit');
});

t.test('cold and warm: while fewer than half the keyed reviews are found, one in coldSample is keyed, until one is found; the answers stay right', async (t) => {
  const recipe = (app: string) => {
    const review = recipeReview();
    review.request.object.metadata.labels.app = app;
    return { text: JSON.stringify(review), settings: DEFAULT_SETTINGS, mode: 'annotated' as const, nodes: undefined };
  };
  const memo = new AnswerMemo({ ...ANSWER_MEMO_LIMITS, window: 4, coldSample: 3 });
  const problems: string[] = [];
  const run = (apps: string[]) => {
    for (const app of apps) {
      const { problem } = check(memo, recipe(app));
      if (problem !== undefined) problems.push(`${app}: ${problem}`);
    }
  };
  run(['a', 'a', 'b', 'a']);
  t.match(memo.stats(), { hits: 2, misses: 2, unkeyed: 0, cold: false }, 'half found: warm');
  run(['n1', 'n2', 'n3', 'n4']);
  t.match(memo.stats(), { hits: 2, misses: 6, unkeyed: 0, cold: true }, 'a window of new pods: cold');
  run(['n5', 'n6', 'n7', 'n8', 'n9', 'n10']);
  t.match(memo.stats(), { misses: 8, unkeyed: 4, cold: true }, 'cold: one review in 3 keyed, and new pods keep it cold');
  run(['a', 'a', 'a']);
  t.match(memo.stats(), { hits: 3, misses: 8, unkeyed: 6, cold: false }, 'a keyed one found its answer: warm again at once');
  run(['a', 'a', 'a']);
  t.match(memo.stats(), { hits: 6, unkeyed: 6, cold: false }, 'warm: every review keyed');
  run(['n11']);
  t.match(memo.stats(), { hits: 6, misses: 9, cold: false }, 'a window of 4 with 3 found: warm');
  run(['n12', 'n13', 'n14', 'a']);
  t.match(memo.stats(), { hits: 7, misses: 12, cold: true }, 'a window of 4 with one found: cold');
  t.same(problems, [], 'every answer the same as without the memo');
});
