/**
 * End-to-end quantized decode: the engine's GPU-resident decode loop (bench/decode-loop.ts, as in
 * bench/decode.ts) on quantized checkpoints of the same weights — `tessera quantize` outputs (w4 =
 * GGUF Q4_0, w8 = GGUF Q8_0; W4A4 is refused, see below) and a Q4_K_M GGUF (bench/peers/write-gguf --type Q4_K_M)
 * — at batch 1, 16 and 64, beside our float checkpoint and llama.cpp on the Q4_K_M GGUF, all in
 * one run on one card.
 *
 * The answer: each model is first run by our f32 path on the same weights (quantized matrices
 * dequantized at load, f32 weights and activations: the oracle of the quantized weights' math),
 * greedy from the bench's prompts, its top logits kept; then the timed runner (weights as served:
 * quantized ones read as stored, f16 activations) is held to it as decode.ts holds ours to
 * PyTorch: teacher-forced logits within LOGIT_TOL of max|logit| and picks equal or a near-tie no
 * wider than twice the measured error, at b1 and b16; the resident loop's free-running tokens
 * equal the reference's up to such a near-tie at every timed batch. A failed check exits 1 and
 * writes nothing. The float checkpoint is held to its own f32 path the same way. A W4A4
 * checkpoint is refused: its f32 path (weights dequantized, activations in f32) lacks Atom's 4-bit
 * activation rounding, which alone moved the built-in model's logits by 1.3e-1 of max|logit|.
 *
 * Prompts: llama-cpp-decode.ts's formula (sequence s, position i: 100 + ((s·7919 + i·104729) mod
 * min(120000, vocab − 100))), so llama.cpp's sequence-0 greedy ids on the Q4_K_M file can be
 * compared with our reference of the same weights (reported, not checked: llama.cpp rounds the
 * activations to 8 bits inside its Q4_K/Q6_K dot products).
 *
 * Limit: bytes a step streams (every weight on the device but an untied embedding table, of which a
 * step gathers only its own rows) ÷ copy bandwidth measured in this run.
 *
 * Usage: BENCH_RUN_ID=<id> node dist/bench/decode-quant.js --model LABEL=PATH [--model LABEL=PATH …]
 *   [--float PATH] [--peer llama-cpp-decode.json] [--batches 1,16,64] [--steps 32] [--prompt 128] [--shape llama3-8b]
 * Writes bench/results/atom-decode-e2e-<date>-<card>.json (or under $BENCH_OUT).
 */
import '../src/register-all.js';
import { WebGpuBackend } from '../src/backends/webgpu/webgpu-backend.js';
import { measureCopyBandwidth } from '../src/backends/webgpu/measure.js';
import { openLlamaModel } from '../src/models/llama/llama-family.js';
import { LlamaRunner } from '../src/models/llama/llama-runner.js';
import { hasW4a4 } from '../src/models/llama/w4a4-source.js';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { checkResident, pagesOf, prefill, residentLoop, teacherForced } from './decode-loop.js';
import { type BenchRow, anchorOf, cardName, peerFigure, readAnchors, row, runId, writeResults } from './results.js';
import { Check, type ReferenceStep, fail } from './verify.js';

const BENCH = 'atom-decode-e2e';
/** f16 activations against the f32 path on the same weights: decode.ts's budget against PyTorch's f32. */
const LOGIT_TOL = 3e-2;
const TOP = 8;
const PAGES_PER_SEQ = 12;

const args = process.argv.slice(2);
const values = (flag: string) => args.flatMap((a, i) => (args[i - 1] === flag ? [a] : []));
const option = (flag: string, fallback: string) => values(flag)[0] ?? fallback;
const models = values('--model').map((m) => {
  const at = m.indexOf('=');
  if (at <= 0) fail(`${BENCH}: --model takes LABEL=PATH, got '${m}'`);
  return { label: m.slice(0, at), path: m.slice(at + 1) };
});
const floatPath = values('--float')[0];
const peerPath = values('--peer')[0];
const BATCHES = option('--batches', '1,16,64').split(',').map(Number);
const STEPS = Number(option('--steps', '32'));
const PROMPT = Number(option('--prompt', '128'));
/** What the checkpoints are (the rows' case names start with it). */
const SHAPE = option('--shape', 'llama3-8b');
if (models.length === 0 || BATCHES.some((b) => ![1, 16, 64].includes(b)) || !(STEPS > 1))
  fail(
    `${BENCH}: usage: decode-quant.js --model LABEL=PATH [--model …] [--float PATH] [--peer FILE] [--batches 1,16,64] [--steps N]`,
  );

const backend = await WebGpuBackend.create();
const card = cardName(backend);
const check = new Check(BENCH);
const copyGBs = await measureCopyBandwidth(backend, 1 << 30);
const peer = readAnchors(peerPath, card);
interface PeerDoc {
  runId?: string | null;
  model?: string;
  tokens?: Record<string, number[]>;
}
/** The peer's file when it is of this run (its tokens are compared whatever card it ran on). */
const peerDoc = ((): PeerDoc | null => {
  if (!peerPath || !existsSync(peerPath)) return null;
  const doc = JSON.parse(readFileSync(peerPath, 'utf8')) as PeerDoc;
  return runId() !== null && doc.runId === runId() ? doc : null;
})();

const maxSeqs = Math.max(16, ...BATCHES);
const runnerOptions = { maxTokens: 1024, maxSeqs, numPages: maxSeqs * PAGES_PER_SEQ, pageSize: 16 };

async function open(path: string) {
  const m = await openLlamaModel(path);
  if (PROMPT + STEPS + 8 > PAGES_PER_SEQ * 16 || PROMPT + STEPS + 8 > m.config.maxPositionEmbeddings)
    fail(`${BENCH}: prompt ${PROMPT} + ${STEPS} steps do not fit the cache or ${path}'s context`);
  return m;
}

/** The bench's prompts for `n` sequences (llama-cpp-decode.ts's formula). */
function promptsFor(n: number, vocab: number): number[][] {
  const span = Math.min(120000, vocab - 100);
  return Array.from({ length: n }, (_, s) =>
    Array.from({ length: PROMPT }, (_, i) => 100 + ((s * 7919 + i * 104729) % span)),
  );
}

/** The f32 path's greedy continuation of each prompt (STEPS + 1 picks) with its top logits. */
async function reference(path: string, prompts: number[][]): Promise<ReferenceStep[][]> {
  const m = await open(path);
  const t0 = performance.now();
  const runner = await LlamaRunner.load(m, {
    backend,
    ...runnerOptions,
    actDtype: 'f32',
    weightDtype: 'f32',
    keepQuantized: false,
    recordDecode: false,
  });
  await m.weights.close();
  console.log(`${path}: f32 reference loaded in ${((performance.now() - t0) / 1e3).toFixed(1)} s`);
  const V = runner.vocabSize;
  const steps: ReferenceStep[][] = prompts.map(() => []);
  const take = (logits: Float32Array<ArrayBufferLike>, row: number, seq: number) => {
    const at = (i: number) => logits[row * V + i]!;
    let maxAbs = 0;
    const top: number[] = []; // the TOP highest ids, highest first (insertion: V is 128k, TOP 8)
    for (let i = 0; i < V; i++) {
      maxAbs = Math.max(maxAbs, Math.abs(at(i)));
      if (top.length === TOP && !(at(i) > at(top[TOP - 1]!))) continue;
      let j = Math.min(top.length, TOP - 1);
      while (j > 0 && at(top[j - 1]!) < at(i)) j--;
      top.splice(j, 0, i);
      if (top.length > TOP) top.pop();
    }
    if (!Number.isFinite(maxAbs)) fail(`${BENCH}: ${path}: the f32 reference's logits are not finite`);
    steps[seq]!.push({ token: top[0]!, topIds: top, topValues: top.map(at), maxAbsLogit: maxAbs });
  };
  for (const [s, tokens] of prompts.entries())
    take(await runner.forward({ seqs: [{ tokens, start: 0, pages: pagesOf(s, PAGES_PER_SEQ) }] }), 0, s);
  for (let k = 0; k < STEPS; k++) {
    const logits = await runner.forward({
      seqs: prompts.map((p, s) => ({
        tokens: [steps[s]![k]!.token],
        start: p.length + k,
        pages: pagesOf(s, PAGES_PER_SEQ),
      })),
    });
    prompts.forEach((_, s) => take(logits, s, s));
  }
  runner.destroy();
  return steps;
}

interface Measured {
  label: string;
  /** Bytes a decode step streams (device weights but an untied embedding table). */
  streamed: number;
  device: number;
  /** Host resident bytes after the served load (the f32 reference was destroyed before it). */
  rss: number;
  kept: Readonly<Record<string, number>>;
  tps: Map<number, number>;
  stepMs: Map<number, number>;
  gpuMs: Map<number, number>;
  agreeWithPeer: string;
}

const notes: string[] = [];

/** Loads `path` as served, checks it against its f32 reference, times the resident loop. */
async function measure(label: string, path: string): Promise<Measured> {
  const probe = await open(path);
  const cfg = probe.config;
  await probe.weights.close();
  const prompts = promptsFor(16, cfg.vocabSize);
  const ref = await reference(path, prompts);
  const m = await open(path);
  const stored = m.weights.tensors.get('model.embed_tokens.weight')?.dtype;
  const embedDtype = stored === 'f16' || stored === 'bf16' || stored === 'f32' ? stored : 'f16';
  const t0 = performance.now();
  const runner = await LlamaRunner.load(m, { backend, ...runnerOptions, actDtype: 'f16' });
  await m.weights.close();
  const device = runner.weightBytes();
  const embedBytes = cfg.tieWordEmbeddings ? 0 : cfg.vocabSize * cfg.hiddenSize * (embedDtype === 'f32' ? 4 : 2);
  const streamed = device - embedBytes;
  const kept = runner.quantizedWeights;
  const rss = process.memoryUsage().rss;
  console.log(
    `${label}: ${path} loaded in ${((performance.now() - t0) / 1e3).toFixed(1)} s; weights ${(device / 1e9).toFixed(3)} GB on the device, ${(streamed / 1e9).toFixed(3)} GB streamed a step; kept quantized ${JSON.stringify(kept)}; host resident ${(rss / 1e9).toFixed(2)} GB`,
  );
  if (!runner.submitDecode) fail(`${BENCH}: ${label}: this backend records no decode steps (no resident loop)`);
  let worst = 0;
  for (const batch of [1, 16]) {
    const tf = await teacherForced(runner, {
      check,
      tag: `${label} b${batch}`,
      prompts: prompts.slice(0, batch),
      steps: ref.slice(0, batch),
      tol: LOGIT_TOL,
      pagesPerSeq: PAGES_PER_SEQ,
    });
    worst = Math.max(worst, tf.worstErr);
    notes.push(tf.note);
  }
  const bound = Math.min(2 * worst, LOGIT_TOL);
  const tps = new Map<number, number>();
  const stepMs = new Map<number, number>();
  const gpuMs = new Map<number, number>();
  for (const batch of BATCHES) {
    // batch 64 runs the 16 prompts four times over: each sequence is held to its twin's reference
    const ps = Array.from({ length: batch }, (_, s) => prompts[s % 16]!);
    const first = await prefill(runner, ps, PAGES_PER_SEQ);
    await residentLoop(runner, ps, first, 8, PAGES_PER_SEQ); // records the stream, warms the clocks
    const run = await residentLoop(runner, ps, first, STEPS, PAGES_PER_SEQ);
    checkResident(check, `${label} b${batch}`, run.tokens, (i) => ref[i % 16]!, bound);
    const gpu = await runner.timeDecodeReplay(batch, 20);
    tps.set(batch, (batch * 1000) / run.stepMs);
    stepMs.set(batch, run.stepMs);
    gpuMs.set(batch, gpu);
    const roofline = (batch * copyGBs * 1e9) / streamed;
    console.log(
      `${label} b${batch}: ${run.stepMs.toFixed(2)} ms/step, ${tps.get(batch)!.toFixed(1)} tokens/s, ${((100 * tps.get(batch)!) / roofline).toFixed(0)}% of roofline; GPU ${gpu.toFixed(2)} ms/step; host ${run.hostMs.toFixed(2)} ms per submit`,
    );
  }
  runner.destroy();
  // the peer names its GGUF file; a quantized folder holds one
  const peerFile = peerDoc?.model === undefined ? null : resolve(peerDoc.model);
  const samePeerFile = peerFile !== null && (peerFile === resolve(path) || dirname(peerFile) === resolve(path));
  const peerTokens = samePeerFile ? peerDoc?.tokens?.b1 : undefined;
  let agreeWithPeer = samePeerFile ? 'no llama.cpp tokens of this run' : 'llama.cpp ran another file';
  if (peerTokens) {
    const ours = ref[0]!.map((s) => s.token);
    let n = 0;
    while (n < Math.min(ours.length, peerTokens.length) && ours[n] === peerTokens[n]) n++;
    agreeWithPeer = `${n} of llama.cpp's first ${Math.min(ours.length, peerTokens.length)} greedy ids (b1, sequence 0) equal our f32 reference's`;
  }
  return { label, streamed, device, rss, kept, tps, stepMs, gpuMs, agreeWithPeer };
}

// Atom W4A4 has no reference here yet: the f32 path dequantizes its weights but keeps activations in
// f32, and the 4-bit activation rounding alone moved the built-in model's logits by 1.3e-1 of
// max|logit|, beyond any bound that would still catch a wrong kernel.
for (const { label, path } of models) {
  const m = await open(path);
  const w4a4 = hasW4a4(m.weights);
  await m.weights.close();
  if (w4a4)
    fail(
      `${BENCH}: ${label} (${path}) is a W4A4 checkpoint; this bench has no f32 reference of its activation quantization`,
    );
}

const float = floatPath ? await measure('float', floatPath) : null;
const results: Measured[] = [];
for (const { label, path } of models) results.push(await measure(label, path));

const rows: BenchRow[] = [];
const PEER_NAME = 'llama.cpp Vulkan (node-llama-cpp), Q4_K_M GGUF of the same weights';
for (const r of [...(float ? [float] : []), ...results]) {
  for (const batch of BATCHES) {
    const tps = r.tps.get(batch)!;
    const a = anchorOf(peer, `b${batch}`);
    const roofline = (batch * copyGBs * 1e9) / r.streamed;
    const ourFloat = float?.tps.get(batch) ?? null;
    const c = `${SHAPE} ${r.label} decode b${batch} (prompt ${PROMPT})`;
    rows.push(
      row({
        case: c,
        metric: 'tokens/s',
        higherIsBetter: true,
        ours: tps,
        anchor: a.value,
        anchorName: a.value === null ? null : PEER_NAME,
        limit: roofline,
        limitName: `streamed weights (${(r.streamed / 1e9).toFixed(2)} GB) ÷ copy bandwidth`,
        anchorWhyNull: a.why === null ? null : `${PEER_NAME}: ${a.why}`,
        peers: [
          peerFigure(PEER_NAME, a.value, a.why, tps, true),
          peerFigure(
            'our float checkpoint, same run',
            r === float ? null : ourFloat,
            r === float ? 'this row is the float checkpoint' : 'no --float checkpoint in this run',
            tps,
            true,
          ),
        ],
      }),
    );
    rows.push(
      row({
        case: c,
        metric: 'ms/step',
        higherIsBetter: false,
        ours: r.stepMs.get(batch)!,
        anchor: null,
        anchorName: null,
        limit: (batch * 1000) / roofline,
        limitName: 'streamed weights ÷ copy bandwidth',
        anchorWhyNull: 'the peers report tokens/s (row above)',
      }),
    );
  }
  notes.push(
    `${r.label}: ${(r.device / 1e9).toFixed(3)} GB of weights on the device, ${(r.streamed / 1e9).toFixed(3)} GB streamed a step, host resident ${(r.rss / 1e9).toFixed(2)} GB after its load, kept quantized ${JSON.stringify(r.kept)}; GPU ms/step of 20 replays ${BATCHES.map((b) => `b${b} ${r.gpuMs.get(b)!.toFixed(2)}`).join(', ')}; ${r.agreeWithPeer}`,
  );
}

writeResults(
  BENCH,
  card,
  rows,
  `End-to-end decode (the GPU-resident loop: greedy on the device, 3 steps in flight; wall time over ${STEPS} steps after 8 warm-up steps), prompt ${PROMPT}, f16 activations and KV cache, weights as served (quantized matrices read as stored). Checked against our f32 path on the same (dequantized) weights, logit bound ${LOGIT_TOL} of max|logit|. Copy bandwidth ${copyGBs.toFixed(0)} GB/s measured in this run. Models: ${[...(floatPath ? [`float=${floatPath}`] : []), ...models.map((m) => `${m.label}=${m.path}`)].join(', ')}. ${notes.join('; ')}`,
  check.passed(),
);
backend.destroy();
