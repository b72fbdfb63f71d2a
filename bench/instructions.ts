// Instructions per review, counted by valgrind's callgrind, which is
// repeatable on a loaded machine (seconds are not):
//   review   = JSON.parse(body) + the /mutate route's handler (decode, inject,
//              patch, answer text, metrics, the log call at level info)
//   baseline = JSON.parse(body) + JSON.stringify of the same review
// and, for bodies the route's answer memo takes (src/admission/answer-memo.ts),
// the handler with it: memo-hit (the same pod every time: a Deployment's
// rollout), memo-miss (every pod new: a label bench-n: <counter>; the memo
// goes cold and keys one review in 16), memo-miss-keyed (the same, every
// review keyed) and distinct (those new pods without the memo),
// bench/instructions-workload.ts.
// Each workload runs (bundled, in node with fixed seeds and one thread) with
// W warm-up iterations and then N, and again with 2N: the difference over N
// is the steady-state cost of one iteration, start-up and JIT warm-up
// cancelled out. Run: npx tsx bench/instructions.ts  (about 2 min per case)
// Env: BENCH_INSTRUCTIONS_WARMUP (1000), BENCH_INSTRUCTIONS_ITERATIONS (1000),
//      BENCH_NODE_FLAGS (node flags, space-separated; default: the image
//      ENTRYPOINT's, bench/image-runtime.ts), BENCH_CASES (recipe,large),
//      BENCH_INSTRUCTIONS_MEMO (1; 0 leaves out the memo's workloads).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ANSWER_MEMO_LIMITS } from '../src/admission/answer-memo.js';
import { nodeFlagsFrom } from './image-runtime.js';
import { largeReview, recipeBody } from './reviews.js';
import { envNumber, fmt, round, table } from './stats.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const WARMUP = envNumber('BENCH_INSTRUCTIONS_WARMUP', 1000);
const ITERATIONS = envNumber('BENCH_INSTRUCTIONS_ITERATIONS', 1000);
/** The target of issue 12: a review within 2.5x of parsing and stringifying it. */
const TARGET_RATIO = 2.5;
const NODE_FLAGS = nodeFlagsFrom(process.env.BENCH_NODE_FLAGS);
const CASES = (process.env.BENCH_CASES ?? 'recipe,large').split(',');
const MEMO = (process.env.BENCH_INSTRUCTIONS_MEMO ?? '1') !== '0';

function instructions(bundle: string, workload: string, bodyFile: string, iterations: number): number {
  const run = spawnSync(
    'valgrind',
    ['--tool=callgrind', '--callgrind-out-file=/dev/null', process.execPath, '--single-threaded', '--random-seed=1', '--hash-seed=1', ...NODE_FLAGS, bundle, workload, bodyFile, `${WARMUP}`, `${iterations}`],
    { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
  );
  const collected = /Collected : (\d+)/.exec(run.stderr)?.[1];
  if (run.status !== 0 || collected === undefined) throw new Error(`valgrind ${workload} failed (exit ${run.status}): ${run.stderr.slice(-2000)}`);
  return Number(collected);
}

function main(): void {
  if (spawnSync('valgrind', ['--version']).status !== 0) {
    console.error('bench/instructions.ts needs valgrind (apt-get install valgrind)');
    process.exitCode = 1;
    return;
  }
  const work = mkdtempSync(join(tmpdir(), 'sq-bench-instructions-'));
  try {
    const bundle = join(work, 'workload.mjs');
    execFileSync(
      join(ROOT, 'node_modules/.bin/esbuild'),
      [join(ROOT, 'bench/instructions-workload.ts'), '--bundle', '--platform=node', '--format=esm', `--outfile=${bundle}`, '--log-level=warning', "--banner:js=import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);"],
      { stdio: 'inherit' },
    );
    const cases = [
      { name: 'recipe', body: recipeBody() },
      { name: 'large', body: largeReview().body },
    ].filter(({ name }) => CASES.includes(name));
    const rows = cases.map(({ name, body }) => {
      const file = join(work, `${name}.json`);
      writeFileSync(file, body);
      const perIteration = (workload: string) => (instructions(bundle, workload, file, 2 * ITERATIONS) - instructions(bundle, workload, file, ITERATIONS)) / ITERATIONS;
      const baseline = perIteration('baseline');
      const review = perIteration('review');
      const memo =
        MEMO && Buffer.byteLength(body) <= ANSWER_MEMO_LIMITS.bodyBytes
          ? { distinct: perIteration('distinct'), miss: perIteration('memo-miss'), missKeyed: perIteration('memo-miss-keyed'), hit: perIteration('memo-hit') }
          : undefined;
      return { name, baseline, review, ratio: review / baseline, memo };
    });
    console.log(`instructions per review (callgrind; node ${process.version} --single-threaded ${NODE_FLAGS.join(' ')}, fixed seeds; ${fmt(WARMUP)} warm-up, then ${fmt(ITERATIONS)} vs ${fmt(2 * ITERATIONS)} iterations)`);
    console.log(
      table([
        ['case', 'JSON.parse + stringify', 'review (route handler)', 'ratio', `target ≤ ${TARGET_RATIO}×`],
        ...rows.map((r) => [r.name, fmt(r.baseline), fmt(r.review), `${r.ratio.toFixed(2)}×`, r.ratio <= TARGET_RATIO ? 'met' : 'NOT met']),
      ]),
    );
    const memoRows = rows.flatMap((r) => (r.memo === undefined ? [] : [{ name: r.name, baseline: r.baseline, ...r.memo }]));
    if (memoRows.length > 0) {
      console.log();
      console.log("with the route's answer memo (src/admission/answer-memo.ts); ratios to the same baseline");
      console.log(
        table([
          ['case', 'same pod (hits)', 'ratio', 'new pods, no memo', 'ratio', 'new pods (cold memo)', 'adds', 'new pods, each keyed', 'adds'],
          ...memoRows.map((r) => {
            const adds = (value: number) => `${fmt(value - r.distinct)} (${(((value - r.distinct) / r.distinct) * 100).toFixed(1)}%)`;
            return [r.name, fmt(r.hit), `${(r.hit / r.baseline).toFixed(2)}×`, fmt(r.distinct), `${(r.distinct / r.baseline).toFixed(2)}×`, fmt(r.miss), adds(r.miss), fmt(r.missKeyed), adds(r.missKeyed)];
          }),
        ]),
      );
    }
    console.log(`BENCH_JSON ${JSON.stringify({ bench: 'instructions', node: process.version, warmup: WARMUP, iterations: ITERATIONS, cases: rows.map((r) => ({ ...r, baseline: round(r.baseline, 0), review: round(r.review, 0), ratio: round(r.ratio, 3), memo: r.memo && { distinct: round(r.memo.distinct, 0), miss: round(r.memo.miss, 0), missKeyed: round(r.memo.missKeyed, 0), hit: round(r.memo.hit, 0) } })) })}`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

main();
