/**
 * The decode benchmarks' shared loops (bench/decode.ts, bench/decode-quant.ts): the teacher-forced
 * check of a runner's logits and greedy picks against a reference, the GPU-resident loop that is
 * timed, and the check of its free-running tokens.
 *
 * Pages: sequence s owns pages s·pagesPerSeq … (s+1)·pagesPerSeq − 1 of the runner's cache.
 */
import type { LlamaRunner } from '../src/models/llama/llama-runner.js';
import { median } from './results.js';
import { type Check, type ReferenceStep, argmax, compareGreedy } from './verify.js';

export type StepSeqs = Parameters<LlamaRunner['forward']>[0]['seqs'];

export function pagesOf(s: number, pagesPerSeq: number): number[] {
  return Array.from({ length: pagesPerSeq }, (_, i) => s * pagesPerSeq + i);
}

/** Our pick at one step, and our largest error on the reference's top ids there (÷ max|logit|). */
export function compareStep(
  logits: Float32Array<ArrayBufferLike>,
  vocab: number,
  seq: number,
  r: ReferenceStep,
): { pick: number; err: number } {
  const err =
    r.topIds.reduce((e, id, k) => Math.max(e, Math.abs(logits[seq * vocab + id]! - r.topValues[k]!)), 0) /
    (r.maxAbsLogit || 1);
  return { pick: argmax(logits, seq * vocab, (seq + 1) * vocab), err: Number.isNaN(err) ? Infinity : err };
}

export interface TeacherForced {
  /** Our greedy pick at every step of every sequence. */
  picks: number[][];
  /** Our worst logit error (÷ max|logit|): twice it bounds a near-tie swap. */
  worstErr: number;
  /** Host-driven loop's tokens/s (one forward a step, logits read back). */
  hostTps: number;
  /** One line for the result's notes. */
  note: string;
}

/**
 * Runs `prompts` through the runner with every step fed the reference's token (teacher forcing, so
 * one near-tie does not end the comparison) and checks, per sequence, that our logits on the
 * reference's top ids stay within `tol` of max|logit| at every step and that our greedy pick is the
 * reference's or a near-tie no wider than twice our measured error there. `steps[s]` holds the
 * reference's view of the prefill's pick and of each following step. `hostStep` runs one decode
 * step (default: one forward).
 */
export async function teacherForced(
  runner: LlamaRunner,
  o: {
    check: Check;
    tag: string;
    prompts: readonly number[][];
    steps: readonly ReferenceStep[][];
    tol: number;
    pagesPerSeq: number;
    hostStep?: (seqs: StepSeqs) => Promise<Float32Array<ArrayBufferLike>>;
  },
): Promise<TeacherForced> {
  const V = runner.vocabSize;
  const batch = o.prompts.length;
  const hostStep = o.hostStep ?? ((seqs: StepSeqs) => runner.forward({ seqs }));
  const prompt = o.prompts[0]!.length;
  const n = o.steps[0]!.length;
  const picks: number[][] = o.prompts.map(() => []);
  const errs: number[][] = o.prompts.map(() => []);
  const record = (logits: Float32Array<ArrayBufferLike>, seq: number, row: number, step: number) => {
    const c = compareStep(logits, V, row, o.steps[seq]![step]!);
    picks[seq]!.push(c.pick);
    errs[seq]!.push(c.err);
  };
  for (const [i, tokens] of o.prompts.entries())
    record(await runner.forward({ seqs: [{ tokens, start: 0, pages: pagesOf(i, o.pagesPerSeq) }] }), i, 0, 0);
  const times: number[] = [];
  for (let step = 0; step < n - 1; step++) {
    const ts = performance.now();
    const logits = await hostStep(
      o.prompts.map((_, i) => ({
        tokens: [o.steps[i]![step]!.token],
        start: prompt + step,
        pages: pagesOf(i, o.pagesPerSeq),
      })),
    );
    times.push(performance.now() - ts);
    for (let i = 0; i < batch; i++) record(logits, i, i, step + 1);
  }
  let worstErr = 0;
  let identical = 0;
  const ties: string[] = [];
  for (let i = 0; i < batch; i++) {
    const e = Math.max(...errs[i]!);
    worstErr = Math.max(worstErr, e);
    o.check.that(
      e <= o.tol,
      `${o.tag} seq ${i}: logits on the reference's top ${o.steps[i]![0]!.topIds.length} ids within ${o.tol} of max|logit| at all ${n} steps`,
      `worst ${e.toExponential(2)}`,
    );
    // the widest near-tie a swap can come from: twice our measured error at that step
    const cmp = compareGreedy(picks[i]!, o.steps[i]!, Math.min(2 * e, o.tol));
    identical += cmp.identical;
    const first = cmp.nearTies[0];
    if (first)
      console.log(
        `${o.tag} seq ${i}: first divergence at step ${first.step}: ours ${first.ours}, reference ${first.theirs}, reference margin ${first.margin.toExponential(2)} of max|logit| (near-tie bound ${Math.min(2 * e, o.tol).toExponential(2)})`,
      );
    ties.push(...cmp.nearTies.map((t) => `seq ${i} step ${t.step} (${t.margin.toExponential(1)})`));
    o.check.that(
      cmp.wrong === null,
      `${o.tag} seq ${i}: greedy tokens equal the reference's or swap at a near-tie`,
      cmp.wrong
        ? `step ${cmp.wrong.step}: ours ${cmp.wrong.ours}, reference ${cmp.wrong.theirs}: ${cmp.wrong.why}`
        : `${cmp.identical}/${cmp.steps} identical`,
    );
  }
  return {
    picks,
    worstErr,
    hostTps: (batch * 1000) / median(times),
    note: `${o.tag}: ${identical}/${batch * n} greedy picks identical to the reference, near-ties ${ties.length ? ties.join(', ') : 'none'}, worst logit error ${worstErr.toExponential(2)} of max|logit|`,
  };
}

/** Prefills `prompts` (eight to a forward) into sequences 0…n−1's pages; returns each one's greedy first token. */
export async function prefill(
  runner: LlamaRunner,
  prompts: readonly number[][],
  pagesPerSeq: number,
): Promise<number[]> {
  const V = runner.vocabSize;
  const first: number[] = [];
  for (let g = 0; g < prompts.length; g += 8) {
    const group = prompts.slice(g, g + 8);
    const logits = await runner.forward({
      seqs: group.map((tokens, j) => ({ tokens, start: 0, pages: pagesOf(g + j, pagesPerSeq) })),
    });
    group.forEach((_, j) => first.push(argmax(logits, j * V, (j + 1) * V)));
  }
  return first;
}

/** The resident loop over `steps` steps from the prompts' end, `depth` in flight: tokens drawn, wall ms per step, host ms per submit. */
export async function residentLoop(
  runner: LlamaRunner,
  prompts: readonly number[][],
  first: readonly number[],
  steps: number,
  pagesPerSeq: number,
  depth = 3,
): Promise<{ tokens: number[][]; stepMs: number; hostMs: number }> {
  const tokens = prompts.map((_, i) => [first[i]!]);
  const rows = (k: number) =>
    prompts.map((_, i) => ({ row: i, temperature: 0, topK: 0, topP: 1, minP: 0, seed: 0, stream: 0, step: k }));
  const inFlight: Promise<Int32Array>[] = [];
  let hostMs = 0;
  const t0 = performance.now();
  for (let k = 0; k < steps || inFlight.length; ) {
    while (k < steps && inFlight.length < depth) {
      const th = performance.now();
      inFlight.push(
        runner.submitDecode!(
          prompts.map((p, i) => ({ start: p.length + k, pages: pagesOf(i, pagesPerSeq) })),
          k === 0 ? Int32Array.from(first) : null,
          rows(k),
        ),
      );
      hostMs += performance.now() - th;
      k++;
    }
    const ids = await inFlight.shift()!;
    ids.forEach((t, i) => tokens[i]!.push(t));
  }
  return { tokens, stepMs: (performance.now() - t0) / steps, hostMs: hostMs / steps };
}

/**
 * The resident loop's free-running greedy tokens against the reference's: equal until the first
 * step where they differ, which must be a near-tie of the reference (within `bound` of max|logit|,
 * twice our measured logit error as in the teacher-forced pass); after it the two runs see
 * different tokens, so the comparison stops there.
 */
export function checkResident(
  check: Check,
  tag: string,
  tokens: number[][],
  refOf: (i: number) => readonly ReferenceStep[],
  bound: number,
): void {
  tokens.forEach((ours, i) => {
    const ref = refOf(i);
    const n = Math.min(ours.length, ref.length);
    let s = 0;
    while (s < n && ours[s] === ref[s]!.token) s++;
    if (s === n) {
      check.that(true, `${tag} seq ${i}: the resident loop draws the reference's ${n} greedy tokens`, 'equal');
      return;
    }
    const r = ref[s]!;
    const k = r.topIds.indexOf(ours[s]!);
    const margin = k < 0 ? Infinity : (r.topValues[0]! - r.topValues[k]!) / (r.maxAbsLogit || 1);
    check.that(
      margin <= bound,
      `${tag} seq ${i}: the resident loop draws the reference's tokens up to a near-tie (${s} equal, then a swap within ${bound.toExponential(2)} of max|logit|)`,
      `step ${s}: ours ${ours[s]}, reference ${r.token}, margin ${margin.toExponential(2)}`,
    );
  });
}
