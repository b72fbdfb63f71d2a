// What bench/instructions.ts runs under callgrind, bundled to one file:
//   node instructions-workload.js <baseline|review> <body file> <warm-up> <iterations>
// `review` is the production path after the HTTP layer: JSON.parse of the body,
// then the /mutate route's handler (decode, inject, patch, answer text,
// metrics, the log call at the default level info). `baseline` is
// JSON.parse + JSON.stringify of the same body. The warm-up lets the JIT
// settle, so that the difference between two iteration counts is the
// steady-state cost of the extra iterations.
import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
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

const step: () => string =
  workload === 'baseline' ? () => JSON.stringify(JSON.parse(body)) : workload === 'review' ? () => handle(JSON.parse(body), log) : () => {
    throw new Error(`unknown workload ${workload}`);
  };
let bytes = 0;
for (let i = 0; i < Number(warmupText); i++) bytes += step().length;
for (let i = 0; i < Number(iterationsText); i++) bytes += step().length;
// Used, so no iteration can be optimised away; also a sanity check for the parent.
process.stdout.write(`${bytes}\n`);
