import type { InjectorSettings, Mode, NodeFacts, PodTemplate } from '../injection/index.js';
import { answerPod, type PodAnswer } from './handle.js';

// The pods of one ReplicaSet or Job reach admission the same but
// for fields the injection never reads: a generateName pod has no name and
// no uid yet, managedFields carry the second it was made. Their answers are
// then the same but for the review's uid (handle.ts writes that part), so
// the answer's tail of the first is kept and sent for the others.
//
// What a pod's answer (answerPod) is a function of:
// - the pod: all of it, in its key order (the patch's operations follow the
//   key order of the pod, its metadata and its spec), but for the fields
//   below. The key is the pod's JSON text with their values replaced by 0,
//   so each keeps its place. The injection reads metadata only through its
//   labels and annotations; the rest of it is copied into the injected pod as
//   the same values, which the patch walk skips as unchanged (and the patch
//   adds metadata whole only when the pod has none);
// - the settings, the mode and the node facts: by identity. Settings are
//   deeply frozen (config.ts), and node facts are values too (a new object
//   when a version changes: src/cluster/node-facts.ts), so the kept answers
//   go when any of the three is another object than before.
//
// The key is exact only for JSON data, which the routes' bodies are (parsed by
// Fastify): JSON.stringify is one-to-one on it, but for -0 (written 0, and
// the injection only compares numbers with ===, which does not tell them
// apart either) and numbers too large for a double (1e400 is Infinity,
// written null, as null is; and `typeof` tells those apart: an emptyDir of
// null is an object). Keys that contain `null` are therefore not kept (the
// API server writes null for an unset creationTimestamp, blanked above; a
// string containing "null" only costs the memo).

/** Metadata fields that differ between pods of one workload and that the injection never reads. */
const VOLATILE_METADATA = ['name', 'uid', 'resourceVersion', 'creationTimestamp', 'managedFields'] as const;

export interface AnswerMemoLimits {
  /**
   * The routes answer reviews with a larger body without the memo: a pod's key
   * costs about 3 µs per KiB to write (more for text with quotes to escape, as
   * a last-applied-configuration annotation), where answering it costs 15-70
   * µs whatever its size (the injection only visits what it adds), so for a
   * large pod the key would cost more than a found answer saves.
   */
  bodyBytes: number;
  /** Answers kept at most. */
  entries: number;
  /** Characters of the kept keys, tails and messages together, at most. */
  chars: number;
  /** A pod whose key is longer is answered, not kept. */
  keyChars: number;
  /** Keyed reviews per window: after each, the memo is warm when at least half of them found their answer, else cold. */
  window: number;
  /** When cold, one review in this many is keyed (and may be found or kept; one found makes it warm); the others are answered without a key. */
  coldSample: number;
}

/**
 * A few hundred workloads' pods; 4 Mi characters (a few MiB) at most, whatever
 * the pods. A keyed miss costs about as much as a hit saves (the key, the
 * lookup, and keeping the answer, which the garbage collector then moves and
 * marks; bench/instructions.ts), so the memo keys every review only while at
 * least half find their answer: in a stream of new pods it keys one in 16,
 * until one of those is found (a rollout's pods come one after the other).
 */
export const ANSWER_MEMO_LIMITS: Readonly<AnswerMemoLimits> = Object.freeze({
  bodyBytes: 32 * 1024,
  entries: 256,
  chars: 4 * 1024 * 1024,
  keyChars: 32 * 1024,
  window: 32,
  coldSample: 16,
});

/** The pod as the memo tells pods apart, or undefined for one it does not keep (see above). */
export function answerKey(pod: PodTemplate, keyChars: number = ANSWER_MEMO_LIMITS.keyChars): string | undefined {
  const { metadata } = pod;
  let subject: object = pod;
  if (metadata !== undefined) {
    let blanked: Record<string, unknown> | undefined;
    for (const field of VOLATILE_METADATA) if (Object.hasOwn(metadata, field)) (blanked ??= { ...metadata })[field] = 0;
    if (blanked !== undefined) subject = { ...pod, metadata: blanked };
  }
  const key = JSON.stringify(subject);
  return key.length <= keyChars && !key.includes('null') ? key : undefined;
}

const sizeOf = (key: string, answer: PodAnswer): number => key.length + answer.tail.length + (answer.message?.length ?? 0);

/**
 * Pod answers by their key, for one route: oldest first out, bounded in count
 * and characters (FrozenMemo's way). Answers it hands out are frozen: every
 * review of the same pod shares them. Whether a review is keyed at all
 * depends on how many found their answer lately (limits.window, coldSample);
 * the answer is the same either way.
 */
export class AnswerMemo {
  private readonly answers = new Map<string, PodAnswer>();
  private chars = 0;
  private settings: InjectorSettings | undefined;
  private mode: Mode | undefined;
  private nodes: NodeFacts | undefined;
  private hitCount = 0;
  private missCount = 0;
  private unkeyedCount = 0;
  /** 1 while warm, limits.coldSample while cold. */
  private sampleEvery = 1;
  private sinceKeyed = 0;
  private windowKeyed = 0;
  private windowHits = 0;

  constructor(private readonly limits: Readonly<AnswerMemoLimits> = ANSWER_MEMO_LIMITS) {}

  /** answerPod's answer: the kept one when an equal pod was answered with the same settings, mode and node facts. */
  answer(pod: PodTemplate, settings: InjectorSettings, mode: Mode, nodes: NodeFacts | undefined): PodAnswer {
    if (settings !== this.settings || mode !== this.mode || nodes !== this.nodes) {
      this.answers.clear();
      this.chars = 0;
      this.settings = settings;
      this.mode = mode;
      this.nodes = nodes;
    }
    if (this.sampleEvery > 1 && ++this.sinceKeyed < this.sampleEvery) {
      this.unkeyedCount++;
      return answerPod(pod, settings, mode, nodes);
    }
    this.sinceKeyed = 0;
    const key = answerKey(pod, this.limits.keyChars);
    const kept = key === undefined ? undefined : this.answers.get(key);
    this.noteKeyed(kept !== undefined);
    if (kept !== undefined) {
      this.hitCount++;
      return kept;
    }
    this.missCount++;
    if (key === undefined) return answerPod(pod, settings, mode, nodes);
    const answer = answerPod(pod, settings, mode, nodes);
    if (answer.sidecar !== undefined) Object.freeze(answer.sidecar);
    Object.freeze(answer);
    const size = sizeOf(key, answer);
    if (size > this.limits.chars || this.limits.entries < 1) return answer;
    while (this.answers.size >= this.limits.entries || this.chars + size > this.limits.chars) {
      const [oldestKey, oldest] = this.answers.entries().next().value as [string, PodAnswer];
      this.answers.delete(oldestKey);
      this.chars -= sizeOf(oldestKey, oldest);
    }
    this.answers.set(key, answer);
    this.chars += size;
    return answer;
  }

  private noteKeyed(hit: boolean): void {
    this.windowKeyed++;
    if (hit) this.windowHits++;
    const warm = this.sampleEvery === 1;
    if (warm ? this.windowKeyed < this.limits.window : !hit) return;
    this.sampleEvery = !warm || this.windowHits * 2 >= this.windowKeyed ? 1 : this.limits.coldSample;
    this.windowKeyed = 0;
    this.windowHits = 0;
  }

  /** For tests and benchmarks: keyed reviews that found their answer and that did not (pods not kept included), reviews answered without a key, what is kept. */
  stats(): { hits: number; misses: number; unkeyed: number; entries: number; chars: number; cold: boolean } {
    return { hits: this.hitCount, misses: this.missCount, unkeyed: this.unkeyedCount, entries: this.answers.size, chars: this.chars, cold: this.sampleEvery > 1 };
  }
}
