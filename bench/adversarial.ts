// Adversarial reviews at volume: `npm run bench:adversarial [-- CASES [FIRST_SEED]]`
// (default 10,000 from seed 1). Every answer must be a clean allow, skip or
// refusal, and no applied patch may make the pod invalid or less restricted
// than it was (test/helpers/adversarial.ts says what is checked); each case,
// answered again through one answer memo (its first review and a repeat), must
// get the same bytes as without it. Exits 1 and
// prints the seeds that failed; rerun one with CASES=1 FIRST_SEED=<seed>.
import { ANSWER_MEMO_LIMITS, AnswerMemo } from '../src/admission/answer-memo.js';
import { adversarialCase, checkCase } from '../test/helpers/adversarial.js';

const cases = Number(process.argv[2] ?? 10_000);
const first = Number(process.argv[3] ?? 1);
const counts: Record<string, number> = {};
const failures: string[] = [];
const started = process.hrtime.bigint();
// One memo for all cases, as a route has, keying every review (a route's keys one in 16 while few are found):
// each case is also answered through it (test/helpers/adversarial.ts).
const memo = new AnswerMemo({ ...ANSWER_MEMO_LIMITS, coldSample: 1 });
for (let seed = first; seed < first + cases; seed++) {
  const { outcome, problems } = checkCase(adversarialCase(seed), memo);
  counts[outcome] = (counts[outcome] ?? 0) + 1;
  if (problems.length > 0) failures.push(`seed ${seed}: ${problems.join('; ')}`);
}
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
console.log(`${cases} adversarial reviews (seeds ${first}..${first + cases - 1}) in ${seconds.toFixed(1)} s: ${JSON.stringify(counts)}`);
const { hits, misses } = memo.stats();
console.log(`answer memo: ${misses} answers made, ${hits} found (each case answered twice through it, compared with the answer without it)`);
if (failures.length > 0) {
  console.log(`${failures.length} failed:\n${failures.slice(0, 50).join('\n')}`);
  process.exit(1);
}
console.log('every answer clean; no patch made a pod invalid');
