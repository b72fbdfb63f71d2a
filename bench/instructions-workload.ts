// What bench/instructions.ts runs under callgrind, bundled to one file:
//   node instructions-workload.js <workload> <body file> <warm-up> <iterations>
// `review` is the production path after the HTTP layer, its answer memo left
// out: JSON.parse of the body, then the /mutate route's handler (decode,
// inject, patch, answer text, metrics, the log call at the default level
// info). `baseline` is JSON.parse + JSON.stringify of the same body. With the
// route's answer memo (src/admission/answer-memo.ts): `memo-hit`, the same
// body every time (a Deployment's pods: all found); `memo-miss`, each
// iteration's pod with a label `bench-n: <counter>` (none found: the memo
// goes cold and keys one in 16); `memo-miss-keyed`, the same with every review
// keyed (what one miss costs while the memo is warm); and `distinct`, those
// bodies without the memo. The warm-up lets the JIT settle, so that the
// difference between two iteration counts is the steady-state cost of the
// extra iterations.
import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { ANSWER_MEMO_LIMITS, AnswerMemo } from '../src/admission/answer-memo.js';
import { answerReview } from '../src/admission/handle.js';
import { reviewHandler } from '../src/admission/routes.js';
import { DEFAULT_SETTINGS } from '../src/injection/index.js';
import { createLogger } from '../src/logger.js';
import { createMetrics } from '../src/metrics.js';

const [workload, bodyFile, warmupText, iterationsText] = process.argv.slice(2);
const body = readFileSync(bodyFile as string, 'utf8');
const discard = new Writable({ write: (_chunk, _encoding, done) => done() });
const log = createLogger('info', discard);
const handle = reviewHandler({ metrics: createMetrics() }, 'annotated', (review) => answerReview(review, DEFAULT_SETTINGS, 'annotated'));
const withMemo = (memo: AnswerMemo) => reviewHandler({ metrics: createMetrics() }, 'annotated', (review) => answerReview(review, DEFAULT_SETTINGS, 'annotated', undefined, undefined, memo));
const handleMemo = withMemo(new AnswerMemo());
const handleKeyed = withMemo(new AnswerMemo({ ...ANSWER_MEMO_LIMITS, coldSample: 1 }));

// Distinct bodies: a label first in the pod's labels.
const LABELS = '"labels": {';
const cut = body.indexOf(LABELS) + LABELS.length;
const [head, tail] = [`${body.slice(0, cut)} "bench-n": "`, `",${body.slice(cut)}`];
let n = 0;
const distinct = () => {
  if (cut < LABELS.length) throw new Error(`the body has no ${LABELS}`);
  return head + n++ + tail;
};

const WORKLOADS: Record<string, () => string> = {
  baseline: () => JSON.stringify(JSON.parse(body)),
  review: () => handle(JSON.parse(body), log),
  'memo-hit': () => handleMemo(JSON.parse(body), log),
  'memo-miss': () => handleMemo(JSON.parse(distinct()), log),
  'memo-miss-keyed': () => handleKeyed(JSON.parse(distinct()), log),
  distinct: () => handle(JSON.parse(distinct()), log),
};
const step = WORKLOADS[workload as string];
if (step === undefined) throw new Error(`unknown workload ${workload}`);
let bytes = 0;
for (let i = 0; i < Number(warmupText); i++) bytes += step().length;
for (let i = 0; i < Number(iterationsText); i++) bytes += step().length;
// Used, so no iteration can be optimised away; also a sanity check for the parent.
process.stdout.write(`${bytes}\n`);
