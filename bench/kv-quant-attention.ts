/**
 * Batch decode attention over int8 and int4 KV pages (src/attention/kv-quant.ts) against our f16
 * pages, same card, same run: Llama-3-8B's attention shape (32 query / 8 KV heads, d 128, pages of
 * 16, HND as the model runner lays them out), batch 1, 16 and 64, every request 4096 tokens. Decode
 * attention is memory-bound, so the win is the bytes: per token and KV head, f16 reads 512 bytes of
 * K and V, int8 264 and int4 136 (codes plus one (scale, zero) word per row).
 *
 * The quantized pools are filled the way the model fills them: `append_kv` quantizing f16 rows as
 * it stores them. Before timing, each dtype's batch-1 result (an unsplit and a split plan) is
 * checked against the float64 oracle over the pool's own dequantized values (the quantized pool
 * read back); a miss fails the bench and nothing is written.
 *
 * Usage: node dist/bench/kv-quant-attention.js   (--smoke: batch 1, 512 tokens, for a software device)
 */
import '../src/register-all.js';
import type { Tensor } from '../src/backends/backend.js';
import { BatchAttention } from '../src/attention/batch-attention.js';
import { poolShape } from '../src/attention/kv-layout.js';
import {
  type KvCacheDtype,
  type KvQuantSpec,
  dequantizePool,
  isQuantKv,
  kvBytesPerToken,
  quantPoolShape,
} from '../src/attention/kv-quant.js';
import { queryOffsets } from '../src/attention/plan.js';
import { referencePagedAttention } from '../src/attention/reference.js';
import { attentionTolerance } from '../src/attention/ops.js';
import { toFloat64 } from '../src/tensor/dtype.js';
import { openBench, scatteredRows } from './attention-common.js';
import { measureCopy } from './copy.js';
import { type BenchRow, cardName, fillRandom, row, timeGpu, writeResults } from './results.js';
import { Check } from './verify.js';

const HQ = 32;
const HK = 8;
const D = 128;
const PAGE = 16;
const smoke = process.argv.includes('--smoke');
const L = smoke ? 512 : 4096;
const BATCHES = smoke ? [1] : [1, 16, 64];
const DTYPES: KvCacheDtype[] = ['f16', 'int8', 'int4'];
/** Tokens appended per append_kv dispatch while filling a quantized pool. */
const FILL_CHUNK = 4096;

const be = await openBench();
const card = cardName(be);
const check = new Check('kv-quant-attention');
const copy = await measureCopy(be, (smoke ? 64 : 1024) * 2 ** 20, check);
const rows: BenchRow[] = [];

interface Setup {
  attn: BatchAttention;
  q: Tensor;
  pool: Tensor;
  o: Tensor;
  lse: Tensor;
  rows: ReturnType<typeof scatteredRows>;
  spec: KvQuantSpec | null;
  free(): void;
}

function setup(kv: KvCacheDtype, batch: number, kvChunk?: number): Setup {
  const kvLens = Array<number>(batch).fill(L);
  const r = scatteredRows(kvLens, PAGE);
  const numPages = r.pages;
  const spec: KvQuantSpec | null = isQuantKv(kv) ? { dtype: kv, numKvHeads: HK, pageSize: PAGE, headDim: D } : null;
  const attn = new BatchAttention(be, {
    numQoHeads: HQ,
    numKvHeads: HK,
    headDim: D,
    pageSize: PAGE,
    layout: 'HND',
    numPages,
    maxBatch: batch,
    maxTokens: batch,
    maxPages: r.indices.length,
    dtype: 'f16',
    variant: { causal: true },
    decode: true,
    ...(spec ? { kvQuant: spec } : {}),
  });
  const q = be.alloc({ dtype: 'f16', shape: [batch, HQ, D] }, 'bench.q');
  const pool = be.alloc(
    spec
      ? { dtype: 'u32', shape: quantPoolShape(spec, numPages) }
      : { dtype: 'f16', shape: poolShape({ numPages, pageSize: PAGE, numKvHeads: HK, headDim: D, layout: 'HND' }) },
    'bench.pool',
  );
  const o = be.alloc({ dtype: 'f16', shape: [batch, HQ, D] }, 'bench.o');
  const lse = be.alloc({ dtype: 'f32', shape: [batch, HQ] }, 'bench.lse');
  fillRandom(be, q, 1);
  if (!spec) fillRandom(be, pool, 2);
  else fillQuantized(spec, pool, r);
  attn.plan(
    { qoLens: kvLens.map(() => 1), indptr: r.indptr, indices: r.indices, lastPageLen: r.last },
    kvChunk ? { kvChunk } : {},
  );
  return {
    attn,
    q,
    pool,
    o,
    lse,
    rows: r,
    spec,
    free() {
      attn.destroy();
      for (const t of [q, pool, o, lse]) be.free(t);
    },
  };
}

/** Every page of the pool filled by append_kv from random f16 rows, FILL_CHUNK tokens of one request at a time. */
function fillQuantized(spec: KvQuantSpec, pool: Tensor, r: ReturnType<typeof scatteredRows>): void {
  const k = be.alloc({ dtype: 'f16', shape: [FILL_CHUNK, HK, D] }, 'bench.k');
  const v = be.alloc({ dtype: 'f16', shape: [FILL_CHUNK, HK, D] }, 'bench.v');
  fillRandom(be, k, 3);
  fillRandom(be, v, 4, 2);
  const i32 = (xs: number[]) => {
    const t = be.alloc({ dtype: 'i32', shape: [xs.length] }, 'bench.fill');
    be.write(t, Int32Array.from(xs));
    return t;
  };
  const held: Tensor[] = [];
  for (let b = 0; b + 1 < r.indptr.length; b++) {
    const pages = r.indices.slice(r.indptr[b]!, r.indptr[b + 1]!);
    for (let t0 = 0; t0 < L; t0 += FILL_CHUNK) {
      const n = Math.min(FILL_CHUNK, L - t0);
      // one request holding this chunk's pages, all of whose tokens are new
      const chunkPages = pages.slice(t0 / PAGE, Math.ceil((t0 + n) / PAGE));
      const args = [
        i32([0, n]),
        i32([0, chunkPages.length]),
        i32(chunkPages),
        i32([n - (chunkPages.length - 1) * PAGE]),
      ];
      held.push(...args);
      be.run('append_kv', { layout: 'HND', kvQuant: spec }, [pool, k, v, ...args], [pool]);
    }
  }
  for (const t of [k, v, ...held]) be.free(t);
}

/** Batch-1 result against float64 over the pool's dequantized values; the worst error ÷ the op's tolerance. */
async function spot(s: Setup): Promise<{ oTol: number; lseTol: number }> {
  const [q, words, o, lse] = await Promise.all([s.q, s.pool, s.o, s.lse].map(async (t) => be.read(t)));
  const pool = s.spec
    ? dequantizePool(words as Uint32Array, s.spec, 'HND').pool
    : toFloat64('f16', words as Uint16Array);
  const f = (xs: number[]) => Float64Array.from(xs);
  const ref = referencePagedAttention(
    { layout: 'HND', variant: { causal: true } },
    {
      q: toFloat64('f16', q as Uint16Array),
      qShape: [1, HQ, D],
      pool,
      poolShape: poolShape({ numPages: s.rows.pages, pageSize: PAGE, numKvHeads: HK, headDim: D, layout: 'HND' }),
      qoIndptr: f(queryOffsets([1])),
      kvIndptr: f(s.rows.indptr),
      kvIndices: f(s.rows.indices),
      lastPageLen: f(s.rows.last),
    },
  );
  const tol = attentionTolerance('f16', { causal: true });
  const got = toFloat64('f16', o as Uint16Array);
  const gl = lse as Float32Array;
  let oTol = 0;
  let lseTol = 0;
  got.forEach((g, i) => {
    oTol = Math.max(
      oTol,
      Number.isNaN(g) ? Infinity : Math.abs(g - ref.o[i]!) / (tol.abs + tol.rel * Math.abs(ref.o[i]!)),
    );
  });
  gl.forEach((g, i) => {
    lseTol = Math.max(
      lseTol,
      Number.isNaN(g) ? Infinity : Math.abs(g - ref.lse[i]!) / (2e-4 + 2e-5 * Math.abs(ref.lse[i]!)),
    );
  });
  return { oTol, lseTol };
}

for (const kv of DTYPES)
  for (const chunk of [undefined, 512]) {
    const s = setup(kv, 1, chunk);
    s.attn.run(s.q, s.pool, s.o, s.lse);
    const e = await spot(s);
    check.that(
      e.oTol <= 1 && e.lseTol <= 1,
      `${kv} b1 L${L} (${s.attn.lastPlan!.merges ? 'split' : 'unsplit'}) within tolerance of float64 over the dequantized pool`,
      `o ${e.oTol.toFixed(2)}×, lse ${e.lseTol.toFixed(2)}× tolerance`,
    );
    s.free();
  }

for (const batch of BATCHES) {
  const ms = new Map<KvCacheDtype, number>();
  for (const kv of DTYPES) {
    const s = setup(kv, batch);
    ms.set(kv, await timeGpu(be, () => s.attn.run(s.q, s.pool, s.o, s.lse)));
    s.free();
  }
  for (const kv of DTYPES) {
    const t = ms.get(kv)!;
    const bytes = batch * (L * kvBytesPerToken(kv, HK, D) + HQ * (D * 2 * 2 + 4));
    console.log(
      `b${batch} L${L} kv:${kv}: ${t.toFixed(4)} ms, ${(bytes / t / 1e6).toFixed(0)} GB/s, ${(ms.get('f16')! / t).toFixed(2)}× f16`,
    );
    rows.push(
      row({
        case: `decode attention b${batch} L${L} gqa32/8 d128 kv:${kv}`,
        metric: 'ms',
        higherIsBetter: false,
        ours: t,
        anchor: kv === 'f16' ? null : ms.get('f16')!,
        anchorName: kv === 'f16' ? null : 'ours, f16 KV pages (same run)',
        limit: (bytes / (copy.gbps * 1e9)) * 1000,
        limitName: 'bytes read ÷ copy bandwidth',
        anchorWhyNull: kv === 'f16' ? 'the f16 row is the baseline of the quantized rows' : null,
      }),
    );
  }
}

writeResults(
  'kv-quant-attention',
  card,
  rows,
  `Decode attention over int8/int4 KV pages (per (token, head) asymmetric scale and zero) vs f16 pages; L${L}, HND, pages of ${PAGE}. Quantized pools filled by append_kv from random f16 rows; batch-1 results checked against float64 over the dequantized pool.`,
  check.passed(),
);
