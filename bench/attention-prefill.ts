/**
 * Causal prefill (one request, 512…8192 tokens, GQA 32/8, d 128, f16) over the paged cache vs
 * PyTorch SDPA (flash) on contiguous K/V. Metric: TFLOP/s of the visible (causal) half.
 * Usage: node .build-attn/bench/attention-prefill.js [attention-anchors.json]
 */
import { readFileSync } from 'node:fs';
import { type BenchRow, cardName, readAnchors, row, timeGpu, writeResults } from './results.js';
import { causalFlops, openBench, pagedSetup, spotCheck } from './attention-common.js';

const cases = JSON.parse(readFileSync('bench/attention-cases.json', 'utf8')) as { prefill: number[] };
const anchors = readAnchors(process.argv[2]);
const be = await openBench();
const card = cardName(be);
const rows: BenchRow[] = [];
const notes: string[] = [];

const first = pagedSetup(be, [512], [512]);
first.attn.run(first.q, first.pool, first.o, first.lse);
const e = await spotCheck(be, first, [512], { causal: true });
const path = first.attn.attrs.tileRows === 64 ? 'tensor cores (f16 subgroup matrices)' : `f32 template (${first.attn.attrs.tileRows}-row tiles)`;
notes.push(`path: ${path}; check L512: max err o ${e.o.toExponential(2)}, lse ${e.lse.toExponential(2)}`);
console.log(notes[0]);
first.free();

for (const L of cases.prefill) {
  const s = pagedSetup(be, [L], [L]);
  const ms = await timeGpu(be, () => s.attn.run(s.q, s.pool, s.o, s.lse), 1, 40, 5);
  const tf = causalFlops(L) / ms / 1e9;
  const a = anchors?.cases[`prefill L${L}`];
  rows.push(row({ case: `causal L${L} gqa32/8 d128 f16`, metric: 'TFLOP/s', higherIsBetter: true, ours: tf, anchor: a ? causalFlops(L) / a / 1e9 : null, anchorName: a ? 'torch sdpa' : null, limit: null, limitName: null }));
  console.log(`L${L}: ${ms.toFixed(3)} ms, ${tf.toFixed(1)} TFLOP/s${a ? `, sdpa ${a.toFixed(3)} ms` : ''}`);
  s.free();
}
writeResults('attention-prefill', card, rows, notes.join('; '));
be.destroy();
