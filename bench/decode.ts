/**
 * Decode speed on a Llama-3-8B-shaped random checkpoint (bf16), batch 1 and 16, against HF
 * transformers eager measured in the same run (`bench/anchors/hf_decode.py` writes the checkpoint
 * and the anchor), with the bandwidth roofline: weight bytes ÷ measured copy bandwidth.
 * Usage: node dist/bench/decode.js DIR   (DIR holds llama3-8b-random/ and hf-decode.json)
 */
import '../src/register-all.js';
import { join } from 'node:path';
import { WebGpuBackend } from '../src/backends/webgpu/webgpu-backend.js';
import { measureCopyBandwidth } from '../src/backends/webgpu/measure.js';
import { openModel } from '../src/io/open-model.js';
import { LlamaRunner } from '../src/models/llama/llama-runner.js';
import { type BenchRow, cardName, median, readAnchors, row, writeResults } from './results.js';

const dir = process.argv[2] ?? '.';
const backend = await WebGpuBackend.create();
const copyGBs = await measureCopyBandwidth(backend, 1 << 30);
const anchors = readAnchors(join(dir, 'hf-decode.json'));
const m = await openModel(join(dir, 'llama3-8b-random'));
let weightBytes = 0;
for (const t of m.weights.tensors.values()) weightBytes += t.byteLength;
const t0 = performance.now();
// DECODE_ATTN_GRID: attention CTAs (A/B runs against the library default)
const attentionGrid = process.env.DECODE_ATTN_GRID ? Number(process.env.DECODE_ATTN_GRID) : undefined;
const runner = await LlamaRunner.load(m, { backend, actDtype: 'f16', maxTokens: 256, maxSeqs: 16, numPages: 16 * 12, pageSize: 16, attentionGrid });
await m.weights.close();
console.log(`loaded ${(weightBytes / 1e9).toFixed(2)} GB in ${((performance.now() - t0) / 1e3).toFixed(1)} s; copy bandwidth ${copyGBs.toFixed(0)} GB/s`);
const rows: BenchRow[] = [];
const PROMPT = 128;
const STEPS = 32;
for (const batch of [1, 16]) {
  const seqs = Array.from({ length: batch }, (_, s) => ({ pages: Array.from({ length: 12 }, (_, i) => s * 12 + i), tokens: Array.from({ length: PROMPT }, (_, i) => 100 + ((s * 7919 + i * 104729) % 120000)) }));
  let logits: Float32Array<ArrayBufferLike> = new Float32Array(0);
  for (const s of seqs) logits = await runner.forward({ seqs: [{ tokens: s.tokens, start: 0, pages: s.pages }] });
  const times: number[] = [];
  let next = seqs.map(() => 1000);
  for (let step = 0; step < STEPS; step++) {
    const ts = performance.now();
    logits = await runner.forward({ seqs: seqs.map((s, i) => ({ tokens: [next[i]!], start: PROMPT + step, pages: s.pages })) });
    times.push(performance.now() - ts);
    next = seqs.map((_, i) => {
      let best = 0;
      for (let v = 1; v < runner.vocabSize; v++) if (logits[i * runner.vocabSize + v]! > logits[i * runner.vocabSize + best]!) best = v;
      return best;
    });
  }
  const stepMs = median(times);
  const tps = (batch * 1000) / stepMs;
  const roofline = (batch * copyGBs * 1e9) / weightBytes;
  console.log(`batch ${batch}: step ${stepMs.toFixed(2)} ms, ${tps.toFixed(1)} tokens/s (replays ${runner.stats.replays})`);
  rows.push(row({ case: `llama3-8b bf16 decode b${batch} (prompt ${PROMPT})`, metric: 'tokens/s', higherIsBetter: true, ours: tps, anchor: anchors?.cases[`b${batch}`] ?? null, anchorName: 'HF transformers eager', limit: roofline, limitName: 'weights ÷ copy bandwidth' }));
}
writeResults('decode-llama3-8b', cardName(backend), rows, `Random bf16 weights (${(weightBytes / 1e9).toFixed(2)} GB), f16 activations and KV, logits read back each step; step time = host clock around forward() incl. plan and readback; copy bandwidth ${copyGBs.toFixed(0)} GB/s measured in this run.${process.env.ANCHOR_NOTE ? ` ${process.env.ANCHOR_NOTE}.` : ''}`);
runner.destroy();
backend.destroy();
