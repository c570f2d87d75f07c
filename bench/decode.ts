/**
 * Decode speed on a Llama-3-8B-shaped random checkpoint (bf16), batch 1 and 16, against HF
 * transformers eager measured in the same run (`bench/anchors/hf_decode.py` writes the checkpoint,
 * the anchor and the reference tokens), with the bandwidth roofline: weight bytes ÷ measured copy
 * bandwidth.
 *
 * The answer is checked against PyTorch: every step is fed the reference's token (teacher
 * forcing, so one near-tie does not end the comparison), and at every step our logits on the
 * reference's top 8 ids must be within LOGIT_TOL of max|logit| of its float32 logits, and our
 * greedy pick must be its pick, or a near-tie no wider than twice our measured error there (the
 * most two tokens can swap by). Otherwise the bench fails and writes nothing.
 *
 * Usage: BENCH_RUN_ID=<id> node dist/bench/decode.js DIR
 *   (DIR holds llama3-8b-random/, hf-decode-tokens.json and hf-decode.json from the same run)
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { WebGpuBackend } from '../src/gpu/webgpu-backend.js';
import { measureCopyBandwidth } from '../src/gpu/measure.js';
import { openModel } from '../src/io/open-model.js';
import { LlamaRunner } from '../src/models/llama/llama-runner.js';
import { type BenchRow, anchorOf, cardName, median, readAnchors, row, runId, writeResults } from './results.js';
import { Check, type ReferenceStep, argmax, compareGreedy, fail } from './verify.js';

/**
 * Our logits (f16 activations and KV, bf16 weights) against PyTorch's float32 ones, as a fraction
 * of max|logit|: about 4× the 5.5e-3–6.9e-3 the parity bench measures with f32 activations, for
 * the f16 rounding of every stored activation; a wrong op moves logits by O(1).
 */
const LOGIT_TOL = 3e-2;

interface TokenReference {
  runId: string | null;
  prompt: number;
  steps: number;
  reference: string;
  batches: Record<string, { prompts: number[][]; steps: ReferenceStep[][] }>;
}

const dir = process.argv[2] ?? '.';
const refPath = join(dir, 'hf-decode-tokens.json');
if (!existsSync(refPath)) fail(`decode-llama3-8b: no reference tokens at ${refPath} (run bench/anchors/hf_decode.py ${dir} in this run)`);
const ref = JSON.parse(readFileSync(refPath, 'utf8')) as TokenReference;
if (!runId() || ref.runId !== runId()) fail(`decode-llama3-8b: ${refPath} comes from run ${ref.runId ?? 'unknown'}, this is run ${runId() ?? 'unset (BENCH_RUN_ID)'}: the tokens may describe another checkpoint`);

const backend = await WebGpuBackend.create();
const card = cardName(backend);
const check = new Check('decode-llama3-8b');
const copyGBs = await measureCopyBandwidth(backend, 1 << 30);
const anchors = readAnchors(join(dir, 'hf-decode.json'), card);
const m = await openModel(join(dir, 'llama3-8b-random'));
let weightBytes = 0;
for (const t of m.weights.tensors.values()) weightBytes += t.byteLength;
const t0 = performance.now();
// DECODE_ATTN_GRID: attention CTAs (A/B runs against the library default)
const attentionGrid = process.env.DECODE_ATTN_GRID ? Number(process.env.DECODE_ATTN_GRID) : undefined;
const runner = await LlamaRunner.load(m, { backend, actDtype: 'f16', maxTokens: 256, maxSeqs: 16, numPages: 16 * 12, pageSize: 16, attentionGrid });
await m.weights.close();
console.log(`loaded ${(weightBytes / 1e9).toFixed(2)} GB in ${((performance.now() - t0) / 1e3).toFixed(1)} s; copy bandwidth ${copyGBs.toFixed(0)} GB/s`);
const V = runner.vocabSize;
const rows: BenchRow[] = [];
const notes: string[] = [];

/** Our pick at one step, and our largest error on the reference's top ids there (÷ max|logit|). */
function compareStep(logits: Float32Array<ArrayBufferLike>, seq: number, r: ReferenceStep): { pick: number; err: number } {
  const err = r.topIds.reduce((e, id, k) => Math.max(e, Math.abs(logits[seq * V + id]! - r.topValues[k]!)), 0) / (r.maxAbsLogit || 1);
  return { pick: argmax(logits, seq * V, (seq + 1) * V), err: Number.isNaN(err) ? Infinity : err };
}

for (const batch of [1, 16]) {
  const br = ref.batches[String(batch)];
  if (!br || br.prompts.length !== batch || br.steps.some((s) => s.length !== ref.steps)) fail(`decode-llama3-8b: ${refPath} has no batch ${batch} of ${ref.steps} steps`);
  const STEPS = ref.steps - 1;
  const PROMPT = ref.prompt;
  const seqs = br.prompts.map((tokens, s) => ({ pages: Array.from({ length: 12 }, (_, i) => s * 12 + i), tokens }));
  const picks: number[][] = seqs.map(() => []);
  const errs: number[][] = seqs.map(() => []);
  const record = (logits: Float32Array<ArrayBufferLike>, seq: number, row: number, step: number) => {
    const c = compareStep(logits, row, br.steps[seq]![step]!);
    picks[seq]!.push(c.pick);
    errs[seq]!.push(c.err);
  };
  for (const [i, s] of seqs.entries()) record(await runner.forward({ seqs: [{ tokens: s.tokens, start: 0, pages: s.pages }] }), i, 0, 0);
  const times: number[] = [];
  for (let step = 0; step < STEPS; step++) {
    const ts = performance.now();
    const logits = await runner.forward({ seqs: seqs.map((s, i) => ({ tokens: [br.steps[i]![step]!.token], start: PROMPT + step, pages: s.pages })) });
    times.push(performance.now() - ts);
    for (let i = 0; i < batch; i++) record(logits, i, i, step + 1);
  }
  // the answer: logits near the reference's at every step, picks equal or swapped at a near-tie
  let worstErr = 0;
  let identical = 0;
  const ties: string[] = [];
  for (let i = 0; i < batch; i++) {
    const e = Math.max(...errs[i]!);
    worstErr = Math.max(worstErr, e);
    check.that(e <= LOGIT_TOL, `b${batch} seq ${i}: logits on the reference's top ${br.steps[i]![0]!.topIds.length} ids within ${LOGIT_TOL} of max|logit| at all ${ref.steps} steps`, `worst ${e.toExponential(2)}`);
    // the widest near-tie a swap can come from: twice our measured error at that step
    const cmp = compareGreedy(picks[i]!, br.steps[i]!, Math.min(2 * e, LOGIT_TOL));
    identical += cmp.identical;
    const first = cmp.nearTies[0];
    if (first) console.log(`b${batch} seq ${i}: first divergence at step ${first.step}: ours ${first.ours}, reference ${first.theirs}, reference margin ${first.margin.toExponential(2)} of max|logit| (near-tie bound ${Math.min(2 * e, LOGIT_TOL).toExponential(2)})`);
    ties.push(...cmp.nearTies.map((t) => `seq ${i} step ${t.step} (${t.margin.toExponential(1)})`));
    check.that(cmp.wrong === null, `b${batch} seq ${i}: greedy tokens equal the reference's or swap at a near-tie`, cmp.wrong ? `step ${cmp.wrong.step}: ours ${cmp.wrong.ours}, reference ${cmp.wrong.theirs}: ${cmp.wrong.why}` : `${cmp.identical}/${cmp.steps} identical`);
  }
  notes.push(`b${batch}: ${identical}/${batch * ref.steps} greedy picks identical to the reference, near-ties ${ties.length ? ties.join(', ') : 'none'}, worst logit error ${worstErr.toExponential(2)} of max|logit|`);
  const stepMs = median(times);
  const tps = (batch * 1000) / stepMs;
  const roofline = (batch * copyGBs * 1e9) / weightBytes;
  console.log(`batch ${batch}: step ${stepMs.toFixed(2)} ms, ${tps.toFixed(1)} tokens/s (replays ${runner.stats.replays})`);
  const a = anchorOf(anchors, `b${batch}`);
  rows.push(row({ case: `llama3-8b bf16 decode b${batch} (prompt ${PROMPT})`, metric: 'tokens/s', higherIsBetter: true, ours: tps, anchor: a.value, anchorName: a.value === null ? null : 'HF transformers eager', limit: roofline, limitName: 'weights ÷ copy bandwidth', anchorWhyNull: a.why }));
}
writeResults('decode-llama3-8b', card, rows, `Random bf16 weights (${(weightBytes / 1e9).toFixed(2)} GB), f16 activations and KV, logits read back each step; step time = host clock around forward() incl. plan and readback; each step fed the reference's token; copy bandwidth ${copyGBs.toFixed(0)} GB/s measured in this run. Reference: ${ref.reference}. ${notes.join('; ')}`, check.passed());
runner.destroy();
backend.destroy();
