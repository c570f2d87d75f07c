/**
 * Greedy generation for the RAG pipeline bench with every call's token ids recorded, and the check
 * that two runs of one question (with and without lookahead) generated the same tokens.
 *
 * The two runs of a pair execute the same engine steps (the bench's engine has no prefix cache:
 * with one, the second run of a pair read the first's prompt pages and computed only the rest of
 * its prompt in a step of another shape, whose f16 logits differ in the last bits), so their tokens
 * are expected to be identical. A random 8B-shaped model has near-tied logits often enough that
 * the comparison still accepts one kind of difference, as bench/decode.ts does against PyTorch: the
 * first divergence at a near-tie, its margin measured by a probe (the common context generated one
 * more token with top log-probabilities) and printed. Any other difference fails.
 */
import type { Engine } from '../src/engine/engine.js';
import type { EngineTokenizer } from '../src/engine/tokenizer.js';
import type { TextGenerator } from '../src/rag/index.js';

/**
 * Widest logit gap (nats) between the two diverging tokens accepted as a near-tie. The random
 * checkpoint's logits should be about N(0, 1) (weights at 1/√fan-in, RMS-normed hidden state),
 * max|logit| about 3.5 over 4096 entries, so 0.05 is about 1.5e-2 of max|logit|: half of
 * bench/decode.ts's f16 bound on our logit error at the 8B shape. An estimate from the
 * initialisation; the bench prints every margin it measures.
 */
export const NEAR_TIE_NATS = 0.05;

export interface GenerationCall {
  readonly prompt: readonly number[];
  readonly ids: number[];
  ms: number;
  /** The caller stopped it (`stopWhen`) before its token limit: the engine may have run a step past that point. */
  stopped: boolean;
}

/** A greedy generator on `engine` (as `engineGenerator`) that records each call's prompt, ids and wall time. */
export function recordingGenerator(
  engine: Engine,
  tokenizer: EngineTokenizer,
): { generate: TextGenerator; calls: GenerationCall[] } {
  const calls: GenerationCall[] = [];
  const generate: TextGenerator = async (prompt, o) => {
    const t0 = performance.now();
    const call: GenerationCall = { prompt: tokenizer.encode(prompt), ids: [], ms: 0, stopped: false };
    calls.push(call);
    const req = await engine.submit(call.prompt, {
      maxTokens: o.maxTokens,
      temperature: 0,
      ...(o.onPiece ? { logprobs: true } : {}),
    });
    let text = '';
    try {
      for await (const ev of req) {
        if (ev.type !== 'delta') continue;
        text += ev.text;
        call.ids.push(...ev.tokens.map((t) => t.id));
        o.onPiece?.({ text: ev.text, logprobs: ev.tokens.map((t) => t.logprob ?? 0) });
        o.onText?.(text);
        if (o.stopWhen?.(text)) {
          call.stopped = true;
          break;
        }
      }
    } finally {
      req.abort();
      call.ms = performance.now() - t0;
    }
    return text;
  };
  return { generate, calls };
}

export interface Divergence {
  readonly call: number;
  readonly step: number;
  /** The two runs' tokens there (undefined where one run ended). */
  readonly a: number | undefined;
  readonly b: number | undefined;
  /** Logit gap of a and b at the common context (Infinity when either is outside the probe's top 20). */
  readonly margin: number;
}

/** The first generated token where runs a and b differ, with its margin probed on `engine`; null when identical. */
export async function firstDivergence(
  engine: Engine,
  a: readonly GenerationCall[],
  b: readonly GenerationCall[],
): Promise<Divergence | null> {
  for (let call = 0; call < Math.max(a.length, b.length); call++) {
    const x = a[call];
    const y = b[call];
    if (!x || !y || x.prompt.join() !== y.prompt.join())
      return { call, step: -1, a: undefined, b: undefined, margin: Number.POSITIVE_INFINITY };
    const n = Math.max(x.ids.length, y.ids.length);
    let step = 0;
    while (step < n && x.ids[step] === y.ids[step]) step++;
    if (step === n) continue;
    const ta = x.ids[step];
    const tb = y.ids[step];
    if (ta === undefined || tb === undefined) return { call, step, a: ta, b: tb, margin: Number.POSITIVE_INFINITY };
    return { call, step, a: ta, b: tb, margin: await logitGap(engine, [...x.prompt, ...x.ids.slice(0, step)], ta, tb) };
  }
  return null;
}

/** |logit(a) − logit(b)| after `context`, from one greedy token's top-20 log-probabilities. */
async function logitGap(engine: Engine, context: readonly number[], a: number, b: number): Promise<number> {
  const req = await engine.submit(context, { maxTokens: 1, temperature: 0, logprobs: true, topLogprobs: 20 });
  const top = (await req.result).choices[0]?.tokens[0]?.topLogprobs ?? [];
  const la = top.find((t) => t.token === a)?.logprob;
  const lb = top.find((t) => t.token === b)?.logprob;
  return la === undefined || lb === undefined ? Number.POSITIVE_INFINITY : Math.abs(la - lb);
}
