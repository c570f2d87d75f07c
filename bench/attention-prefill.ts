/**
 * Causal prefill (one request, 512…8192 tokens, GQA 32/8, d 128, f16) over the paged cache vs
 * PyTorch SDPA (flash) on contiguous K/V. Metric: TFLOP/s of the visible (causal) half.
 * Usage: node .build-attn/bench/attention-prefill.js [attention-anchors.json]
 * PREFILL_VARIANTS=tk32r8,tk48r8,… times tensor-core template variants (keys per tile, lazy-rescale
 * threshold in log2 units); the first one is the reported configuration, the others get suffixed rows.
 */
import { readFileSync } from 'node:fs';
import { type BenchRow, cardName, readAnchors, row, timeGpu, writeResults } from './results.js';
import { causalFlops, openBench, pagedSetup, spotCheck } from './attention-common.js';
import { sgmatTuning } from '../src/attention/attention-sgmat.js';

const cases = JSON.parse(readFileSync('bench/attention-cases.json', 'utf8')) as { prefill: number[] };
const lens = process.env.PREFILL_LENS ? process.env.PREFILL_LENS.split(',').map(Number) : cases.prefill;
const variants = (process.env.PREFILL_VARIANTS ?? `tk${sgmatTuning.tileKeys}r${sgmatTuning.rescaleLog2}`).split(',').map((v) => {
  const m = /^tk(\d+)r(\d+)$/.exec(v);
  if (!m) throw new Error(`PREFILL_VARIANTS: '${v}' is not tk<keys>r<log2>`);
  return { name: v, tileKeys: Number(m[1]), rescaleLog2: Number(m[2]) };
});
const anchors = readAnchors(process.argv[2]);
const be = await openBench();
const card = cardName(be);
const rows: BenchRow[] = [];
const notes: string[] = [];

for (const [vi, v] of variants.entries()) {
  sgmatTuning.tileKeys = v.tileKeys;
  sgmatTuning.rescaleLog2 = v.rescaleLog2;
  const first = pagedSetup(be, [512], [512]);
  first.attn.run(first.q, first.pool, first.o, first.lse);
  const e = await spotCheck(be, first, [512], { causal: true });
  const path = first.attn.attrs.tileRows === 64 ? `tensor cores (f16 subgroup matrices, ${v.tileKeys} keys per tile, lazy rescale > 2^${v.rescaleLog2})` : `f32 template (${first.attn.attrs.tileRows}-row tiles)`;
  notes.push(`${vi === 0 ? '' : `${v.name}: `}path: ${path}; check L512: max err o ${e.o.toExponential(2)}, lse ${e.lse.toExponential(2)}`);
  console.log(notes[notes.length - 1]);
  first.free();
  for (const L of lens) {
    const s = pagedSetup(be, [L], [L]);
    const ms = await timeGpu(be, () => s.attn.run(s.q, s.pool, s.o, s.lse), 1, 40, 5);
    const tf = causalFlops(L) / ms / 1e9;
    const a = anchors?.cases[`prefill L${L}`];
    rows.push(row({ case: `causal L${L} gqa32/8 d128 f16${vi === 0 ? '' : ` [${v.name}]`}`, metric: 'TFLOP/s', higherIsBetter: true, ours: tf, anchor: a ? causalFlops(L) / a / 1e9 : null, anchorName: a ? 'torch sdpa' : null, limit: null, limitName: null }));
    console.log(`${v.name} L${L}: ${ms.toFixed(3)} ms, ${tf.toFixed(1)} TFLOP/s${a ? `, sdpa ${a.toFixed(3)} ms (${(a / ms).toFixed(2)}x)` : ''}`);
    s.free();
  }
}
const source = (anchors as { source?: string } | null)?.source;
if (source) notes.push(`anchors: ${source}`);
writeResults('attention-prefill', card, rows, notes.join('; '));
be.destroy();
