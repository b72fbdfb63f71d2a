// In-process benchmark of the admission hot path, without HTTP:
//   JSON.parse(body) -> readReview -> answerReview (inject, patch, answer text)
// Run: npx tsx bench/inject.ts   (BENCH_ITER_SCALE=0.2 for a quick run)
import { cpus, loadavg } from 'node:os';
import { GCProfiler, getHeapStatistics } from 'node:v8';
import jsonPatch, { type Operation } from 'fast-json-patch';
import { answerReview } from '../src/admission/handle.js';
import { allowText } from '../src/admission/response.js';
import { readReview } from '../src/admission/review.js';
import { DEFAULT_SETTINGS, injectPod, type PodTemplate } from '../src/injection/index.js';
import { patchText } from '../src/injection/patch.js';
import { largeReview, recipeBody } from './reviews.js';
import { envNumber, fmt, machineBusyCores, machineCpu, mean, percentile, round, table } from './stats.js';

const SCALE = envNumber('BENCH_ITER_SCALE', 1, { max: 10 });

interface Case {
  name: string;
  note: string;
  body: string;
  iterations: number;
  warmup: number;
}

/** One full review, as the route does it plus the body parse Fastify does. */
function hotPath(body: string): string {
  const review = readReview(JSON.parse(body));
  const outcome = answerReview(review, DEFAULT_SETTINGS, 'annotated');
  if (outcome.verdict !== 'injected') throw new Error(`expected verdict "injected", got "${outcome.verdict}" (${outcome.reason})`);
  return outcome.answer;
}

/** Checks once, outside the timing, that the answer is a patch that really adds the sidecar. */
function checkAnswer(c: Case): { patchOps: number; responseBytes: number } {
  const encoded = hotPath(c.body);
  const answer = JSON.parse(encoded) as { response: { allowed: boolean; patchType?: string; patch?: string } };
  const { allowed, patchType, patch } = answer.response;
  if (!allowed || patchType !== 'JSONPatch' || patch === undefined) throw new Error(`${c.name}: answer is not an allowed JSONPatch: ${encoded.slice(0, 300)}`);
  const ops = JSON.parse(Buffer.from(patch, 'base64').toString('utf8')) as Operation[];
  const pod = (JSON.parse(c.body) as { request: { object: PodTemplate } }).request.object;
  const patched = jsonPatch.applyPatch(pod, ops, true, false).newDocument;
  if (!patched.spec.containers.some((container) => container.name === 'promtail')) throw new Error(`${c.name}: the patch adds no promtail container`);
  return { patchOps: ops.length, responseBytes: Buffer.byteLength(encoded) };
}

/**
 * V8 heap bytes allocated per call of `fn`, without --expose-gc: the growth of
 * the used heap over the run plus what every GC during the run freed (GCProfiler
 * records the used size before and after each one). Off-heap memory (Buffer
 * pools, strings' external backing) is not counted.
 */
function allocatedPerCall(calls: number, fn: (i: number) => unknown): number {
  const profiler = new GCProfiler();
  let sink: unknown;
  profiler.start();
  const before = getHeapStatistics().used_heap_size;
  for (let i = 0; i < calls; i++) sink = fn(i);
  const after = getHeapStatistics().used_heap_size;
  const { statistics } = profiler.stop();
  let freed = 0;
  for (const gc of statistics) freed += gc.beforeGC.heapStatistics.usedHeapSize - gc.afterGC.heapStatistics.usedHeapSize;
  if (sink === undefined) throw new Error('unreachable');
  return (after - before + freed) / calls;
}

interface CaseResult {
  name: string;
  bodyBytes: number;
  responseBytes: number;
  patchOps: number;
  iterations: number;
  reviewsPerSecond: number;
  meanUs: number;
  p50Us: number;
  p99Us: number;
  maxUs: number;
  heapBytesPerReview: number;
  /** Busy CPU of everything else on the machine during the timed loop, % of one core. */
  otherCpuPct: number;
}

function runCase(c: Case): CaseResult {
  const { patchOps, responseBytes } = checkAnswer(c);
  for (let i = 0; i < c.warmup; i++) hotPath(c.body);

  const samples = new Float64Array(c.iterations);
  const machineBefore = machineCpu();
  const cpuBefore = process.cpuUsage();
  const started = process.hrtime.bigint();
  for (let i = 0; i < c.iterations; i++) {
    const t0 = process.hrtime.bigint();
    hotPath(c.body);
    samples[i] = Number(process.hrtime.bigint() - t0) / 1e3;
  }
  const elapsedSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  const ownCpu = process.cpuUsage(cpuBefore);
  const ownCpuPct = ((ownCpu.user + ownCpu.system) / 1e6 / elapsedSeconds) * 100;
  const otherCpuPct = Math.max(0, machineBusyCores(machineBefore, machineCpu()) * 100 - ownCpuPct);
  const sorted = samples.slice().sort();

  const heapBytesPerReview = allocatedPerCall(Math.max(200, Math.round(c.iterations / 4)), () => hotPath(c.body));
  return {
    name: c.name,
    bodyBytes: Buffer.byteLength(c.body),
    responseBytes,
    patchOps,
    iterations: c.iterations,
    reviewsPerSecond: c.iterations / elapsedSeconds,
    meanUs: mean(samples),
    p50Us: percentile(sorted, 50),
    p99Us: percentile(sorted, 99),
    maxUs: percentile(sorted, 100),
    heapBytesPerReview,
    otherCpuPct,
  };
}

interface StageResult {
  stage: string;
  meanUs: number;
  heapBytes: number;
}

/** Where the time of one review goes: each stage alone, on inputs made once. */
function stages(c: Case): StageResult[] {
  const parsed = JSON.parse(c.body) as unknown;
  const review = readReview(parsed);
  const pod = review.request.pod;
  if (pod === undefined) throw new Error(`${c.name}: not a pod CREATE`);
  const injected = injectPod(pod, DEFAULT_SETTINGS, 'annotated');
  if (injected.kind !== 'injected') throw new Error(`${c.name}: expected an injection, got ${injected.kind}`);
  const patch = patchText(pod, injected.pod);

  const list: [string, () => unknown][] = [
    ['JSON.parse(body)', () => JSON.parse(c.body)],
    ['readReview', () => readReview(parsed)],
    ['injectPod', () => injectPod(pod, DEFAULT_SETTINGS, 'annotated')],
    ['patchText (walk of what was added)', () => patchText(pod, injected.pod)],
    ['allowText (base64 + answer text)', () => allowText(review.apiVersion, review.request.uid, patch, injected.warnings)],
    ['baseline: JSON.stringify(review)', () => JSON.stringify(parsed)],
  ];
  const calls = Math.max(200, Math.round(c.iterations / 4));
  return list.map(([stage, fn]) => {
    for (let i = 0; i < calls / 4; i++) fn();
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < calls; i++) fn();
    const meanUs = Number(process.hrtime.bigint() - t0) / 1e3 / calls;
    return { stage, meanUs, heapBytes: allocatedPerCall(calls, fn) };
  });
}

function main(): void {
  const large = largeReview();
  const cases: Case[] = [
    { name: 'recipe', note: 'simple-webapp.v1.json as is', body: recipeBody(), iterations: Math.round(20_000 * SCALE), warmup: Math.round(5_000 * SCALE) },
    {
      name: 'large',
      note: `${large.shape.containers} containers, ${large.shape.volumes} volumes, ${large.shape.annotations} annotations, managedFields`,
      body: large.body,
      iterations: Math.round(5_000 * SCALE),
      warmup: Math.round(1_000 * SCALE),
    },
  ];

  const started = Date.now();
  const loadAtStart = loadavg();
  const results = cases.map(runCase);
  const breakdown = cases.map((c) => ({ name: c.name, stages: stages(c) }));

  console.log(`inject hot path: JSON.parse -> readReview -> answerReview(annotated) -> answer text  (node ${process.version}, one thread)`);
  for (const c of cases) console.log(`  ${c.name}: ${c.note}`);
  console.log(`  machine: ${cpus().length} CPUs, load average ${loadAtStart.map((l) => l.toFixed(2)).join(' ')} at start`);
  console.log();
  console.log(
    table([
      ['case', 'body KiB', 'answer KiB', 'patch ops', 'iterations', 'reviews/s', 'mean µs', 'p50 µs', 'p99 µs', 'max µs', 'heap KiB/review', 'other CPU'],
      ...results.map((r) => [
        r.name,
        fmt(r.bodyBytes / 1024, 1),
        fmt(r.responseBytes / 1024, 1),
        fmt(r.patchOps),
        fmt(r.iterations),
        fmt(r.reviewsPerSecond),
        fmt(r.meanUs, 1),
        fmt(r.p50Us, 1),
        fmt(r.p99Us, 1),
        fmt(r.maxUs, 0),
        fmt(r.heapBytesPerReview / 1024, 1),
        `${fmt(r.otherCpuPct)}%`,
      ]),
    ]),
  );
  console.log();
  console.log('stage breakdown (each stage alone, mean of a batch; sums approximate the hot path):');
  const stageNames = breakdown[0]?.stages.map((s) => s.stage) ?? [];
  console.log(
    table([
      ['stage', ...breakdown.flatMap((b) => [`${b.name} µs`, `${b.name} heap KiB`])],
      ...stageNames.map((stage, i) => [
        stage,
        ...breakdown.flatMap((b) => {
          const s = b.stages[i];
          return s === undefined ? ['', ''] : [fmt(s.meanUs, 1), fmt(s.heapBytes / 1024, 1)];
        }),
      ]),
    ]),
  );
  console.log(
    `\n(heap = V8 heap bytes allocated, from GCProfiler before/after sizes, off-heap Buffer memory not counted; ` +
      `other CPU = the rest of the machine during the timed loop, % of one core, from /proc/stat; ${((Date.now() - started) / 1000).toFixed(1)} s)`,
  );
  const noisy = results.filter((r) => r.otherCpuPct > 15);
  if (noisy.length > 0) console.log(`WARNING: other processes used CPU during ${noisy.map((r) => r.name).join(', ')}; the figures are not clean`);

  const json = {
    bench: 'inject',
    node: process.version,
    cases: results.map((r) => ({
      name: r.name,
      bodyBytes: r.bodyBytes,
      responseBytes: r.responseBytes,
      patchOps: r.patchOps,
      iterations: r.iterations,
      reviewsPerSecond: round(r.reviewsPerSecond, 0),
      meanUs: round(r.meanUs, 1),
      p50Us: round(r.p50Us, 1),
      p99Us: round(r.p99Us, 1),
      maxUs: round(r.maxUs, 0),
      heapBytesPerReview: round(r.heapBytesPerReview, 0),
      otherCpuPct: round(r.otherCpuPct, 0),
    })),
    stages: Object.fromEntries(
      breakdown.map((b) => [b.name, Object.fromEntries(b.stages.map((s) => [s.stage, { meanUs: round(s.meanUs, 2), heapBytes: round(s.heapBytes, 0) }]))]),
    ),
  };
  console.log(`BENCH_JSON ${JSON.stringify(json)}`);
}

main();
