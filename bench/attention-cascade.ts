/**
 * Cascade vs plain decode for 64 requests sharing a 4K-token prefix (each with a 256-token suffix,
 * GQA 32/8, d 128, f16): plain attention reads the shared pages once per request, cascade once
 * per query tile. The anchor is our own plain run; PyTorch SDPA (no sharing) is in the notes.
 * Both outputs are checked against float64 before timing.
 * Usage: node .build-attn/bench/attention-cascade.js [attention-anchors.json]
 */
import { readFileSync } from 'node:fs';
import { CascadeAttention } from '../src/attention/cascade.js';
import { type BenchRow, anchorOf, cardName, fillRandom, readAnchors, row, timeGpu, writeResults } from './results.js';
import { D, HK, HQ, PAGE, describeSpot, openBench, pagedSetup, spotCheck } from './attention-common.js';
import { Check } from './verify.js';

const cases = JSON.parse(readFileSync('bench/attention-cases.json', 'utf8')) as {
  cascade: Record<string, [number, number, number]>;
};
const be = await openBench();
const card = cardName(be);
const anchors = readAnchors(process.argv[2], card);
const check = new Check('attention-cascade');
const rows: BenchRow[] = [];
const notes: string[] = [];

for (const [name, [prefix, suffix, n]] of Object.entries(cases.cascade)) {
  const prefixPages = prefix / PAGE;
  const suffixPages = Math.ceil(suffix / PAGE);
  const numPages = prefixPages + n * suffixPages;
  // page rows: every request = the shared prefix pages 0…P−1, then its own pages
  const indptr = [0];
  const indices: number[] = [];
  const last: number[] = [];
  const sIndptr = [0];
  const sIndices: number[] = [];
  for (let b = 0; b < n; b++) {
    const own = Array.from({ length: suffixPages }, (_, i) => prefixPages + b * suffixPages + i);
    indices.push(...Array.from({ length: prefixPages }, (_, i) => i), ...own);
    indptr.push(indices.length);
    sIndices.push(...own);
    sIndptr.push(sIndices.length);
    last.push(suffix - (suffixPages - 1) * PAGE);
  }
  const qoLens = Array(n).fill(1);
  const plain = pagedSetup(
    be,
    qoLens,
    Array(n).fill(prefix + suffix),
    { decode: true, numPages, maxPages: indices.length },
    { indptr, indices, last },
  );
  // one pool for both, so both read the same data
  const pool = be.alloc({ dtype: 'f16', shape: [numPages, 2, PAGE, HK, D] }, 'cascade.pool');
  fillRandom(be, pool, 3);
  const cascade = new CascadeAttention(be, {
    numQoHeads: HQ,
    numKvHeads: HK,
    headDim: D,
    pageSize: PAGE,
    layout: 'NHD',
    numPages,
    maxBatch: n,
    maxTokens: n,
    maxPages: sIndices.length + prefixPages,
    dtype: 'f16',
    variant: { causal: true },
    decode: true,
  });
  cascade.plan({
    sharedPages: Array.from({ length: prefixPages }, (_, i) => i),
    sharedLength: prefix,
    suffix: { qoLens, indptr: sIndptr, indices: sIndices, lastPageLen: last },
  });
  const o2 = be.alloc({ dtype: 'f16', shape: [n, HQ, D] }, 'cascade.o');
  const lse2 = be.alloc({ dtype: 'f32', shape: [n, HQ] }, 'cascade.lse');
  plain.attn.run(plain.q, pool, plain.o, plain.lse);
  cascade.run(plain.q, pool, o2, lse2);
  await be.flush();
  const ePlain = await spotCheck(be, { ...plain, pool }, qoLens, { causal: true });
  check.that(
    ePlain.oTol <= 1 && ePlain.lseTol <= 1,
    `${name} plain paged decode within tolerance of float64`,
    describeSpot(ePlain),
  );
  const eCascade = await spotCheck(be, { ...plain, pool, o: o2, lse: lse2 }, qoLens, { causal: true });
  check.that(
    eCascade.oTol <= 1 && eCascade.lseTol <= 1,
    `${name} cascade within tolerance of float64`,
    describeSpot(eCascade),
  );
  notes.push(`${name}: cascade ${describeSpot(eCascade)}`);
  const msPlain = await timeGpu(be, () => plain.attn.run(plain.q, pool, plain.o, plain.lse));
  const msCascade = await timeGpu(be, () => cascade.run(plain.q, pool, o2, lse2));
  rows.push(
    row({
      case: `${name} cascade vs plain`,
      metric: 'ms',
      higherIsBetter: false,
      ours: msCascade,
      anchor: msPlain,
      anchorName: 'ours without cascade',
      limit: null,
      limitName: null,
    }),
  );
  const { value: sd, why } = anchorOf(anchors, `cascade ${name}`);
  rows.push(
    row({
      case: `${name} cascade vs sdpa (contiguous, no sharing)`,
      metric: 'ms',
      higherIsBetter: false,
      ours: msCascade,
      anchor: sd,
      anchorName: sd ? 'torch sdpa' : null,
      limit: null,
      limitName: null,
      anchorWhyNull: why,
    }),
  );
  console.log(
    `${name}: plain ${msPlain.toFixed(4)} ms, cascade ${msCascade.toFixed(4)} ms${sd ? `, sdpa ${sd.toFixed(4)} ms` : ''}; ${notes[notes.length - 1]}`,
  );
  cascade.destroy();
  plain.free();
  for (const t of [pool, o2, lse2]) be.free(t);
}
writeResults('attention-cascade', card, rows, notes.join('; '), check.passed());
be.destroy();
