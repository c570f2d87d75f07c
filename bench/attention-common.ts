/**
 * Shared setup of the attention benchmarks: a paged pool filled on the device, page tables for a
 * batch's lengths (pages shuffled, as a real cache fragments), BatchAttention planned for it,
 * and the byte/FLOP counts the metrics use. Shapes are Llama-3-8B's: 32 query / 8 KV heads, d 128.
 */
import '../src/register-all.js';
import type { Tensor } from '../src/backends/backend.js';
import { BatchAttention, type BatchAttentionConfig } from '../src/attention/batch-attention.js';
import type { VariantSpec } from '../src/attention/variants.js';
import type { WebGpuBackend } from '../src/backends/webgpu/webgpu-backend.js';
import { DAWN_TOGGLES } from '../src/backends/webgpu/device.js';
import { referencePagedAttention } from '../src/attention/reference.js';
import { pageRows } from '../src/attention/batch-gen.js';
import { poolShape } from '../src/attention/kv-layout.js';
import { queryOffsets } from '../src/attention/plan.js';
import { attentionTolerance } from '../src/attention/ops.js';
import { type DType, toFloat64 } from '../src/tensor/dtype.js';
import { fillRandom } from './results.js';

export const HQ = 32;
export const HK = 8;
export const D = 128;
export const PAGE = 16;

export interface PagedSetup {
  readonly attn: BatchAttention;
  readonly q: Tensor;
  readonly pool: Tensor;
  readonly o: Tensor;
  readonly lse: Tensor;
  readonly rows: { indptr: number[]; indices: number[]; last: number[] };
  readonly kvLens: number[];
  free(): void;
}

/** Page rows for `kvLens`, pages handed out in a scrambled (but deterministic) order. */
export function scatteredRows(
  kvLens: readonly number[],
  pageSize = PAGE,
  firstPage = 0,
): { indptr: number[]; indices: number[]; last: number[]; pages: number } {
  const total = kvLens.reduce((a, l) => a + Math.ceil(l / pageSize), 0);
  // a fixed odd stride modulo a power of two visits every page once, far from sequentially
  const span = 2 ** Math.ceil(Math.log2(Math.max(2, total)));
  const order: number[] = [];
  for (let i = 0; order.length < total; i++) {
    const p = (i * 40503) % span;
    if (p < total) order.push(firstPage + p);
  }
  return { ...pageRows(kvLens, pageSize, order), pages: total };
}

export function pagedSetup(
  be: WebGpuBackend,
  qoLens: number[],
  kvLens: number[],
  over: Partial<BatchAttentionConfig> = {},
  given?: { indptr: number[]; indices: number[]; last: number[] },
): PagedSetup {
  const pageSize = over.pageSize ?? PAGE;
  const rows = given ? { ...given, pages: over.numPages ?? 1 } : scatteredRows(kvLens, pageSize);
  const numPages = Math.max(1, over.numPages ?? rows.pages);
  const tokens = qoLens.reduce((a, b) => a + b, 0);
  const cfg: BatchAttentionConfig = {
    numQoHeads: HQ,
    numKvHeads: HK,
    headDim: D,
    pageSize,
    layout: 'NHD',
    numPages,
    maxBatch: qoLens.length,
    maxTokens: tokens,
    maxPages: rows.indices.length,
    dtype: 'f16',
    variant: { causal: true },
    ...over,
  };
  const attn = new BatchAttention(be, cfg);
  const q = be.alloc({ dtype: 'f16', shape: [tokens, HQ, D] }, 'bench.q');
  const pool = be.alloc(
    { dtype: 'f16', shape: poolShape({ numPages, pageSize, numKvHeads: HK, headDim: D, layout: cfg.layout }) },
    'bench.pool',
  );
  const o = be.alloc({ dtype: 'f16', shape: [tokens, HQ, D] }, 'bench.o');
  const lse = be.alloc({ dtype: 'f32', shape: [tokens, HQ] }, 'bench.lse');
  fillRandom(be, q, 1);
  fillRandom(be, pool, 2);
  attn.plan({ qoLens, indptr: rows.indptr, indices: rows.indices, lastPageLen: rows.last });
  return {
    attn,
    q,
    pool,
    o,
    lse,
    rows: { indptr: rows.indptr, indices: rows.indices, last: rows.last },
    kvLens,
    free() {
      attn.destroy();
      for (const t of [q, pool, o, lse]) be.free(t);
    },
  };
}

/** Bytes a decode step must move: every K and V element once, plus q, o and lse. */
export function decodeBytes(kvLens: readonly number[]): number {
  const kv = kvLens.reduce((a, l) => a + l, 0) * HK * D * 2 * 2;
  return kv + kvLens.length * HQ * (D * 2 * 2 + 4);
}

/** Causal prefill FLOPs (Q·Kᵀ and P·V over the visible half). */
export function causalFlops(len: number): number {
  return (4 * HQ * D * (len * (len + 1))) / 2;
}

export async function openBench(): Promise<WebGpuBackend> {
  // experiment only: BENCH_DAWN_TOGGLES=disable_robustness adds Dawn toggles, to see what its safety checks cost
  if (process.env.BENCH_DAWN_TOGGLES) DAWN_TOGGLES[0] = `${DAWN_TOGGLES[0]},${process.env.BENCH_DAWN_TOGGLES}`;
  const { WebGpuBackend } = await import('../src/backends/webgpu/webgpu-backend.js');
  return WebGpuBackend.create({ onWarning: (m) => console.warn(m) });
}

/**
 * Max |error| of o and lse against the float64 oracle on the very device data (small cases
 * only), and the worst ratio of error to the conformance suite's tolerance for the op
 * (`oTol`, `lseTol`: the check holds when both are ≤ 1).
 */
export async function spotCheck(
  be: WebGpuBackend,
  s: PagedSetup,
  qoLens: number[],
  variant: VariantSpec,
): Promise<{ o: number; lse: number; oTol: number; lseTol: number }> {
  const [q, pool, o, lse] = await Promise.all(
    [s.q, s.pool, s.o, s.lse].map(async (t) => toFloat64(t.dtype as DType, await be.read(t))),
  );
  const f = (xs: number[]): Float64Array => Float64Array.from(xs);
  const ref = referencePagedAttention(
    { layout: 'NHD', variant },
    {
      q: q!,
      qShape: s.q.shape,
      pool: pool!,
      poolShape: s.pool.shape,
      qoIndptr: f(queryOffsets(qoLens)),
      kvIndptr: f(s.rows.indptr),
      kvIndices: f(s.rows.indices),
      lastPageLen: f(s.rows.last),
    },
  );
  const err = (got: Float64Array, want: Float64Array): number =>
    got.reduce((m, g, i) => Math.max(m, Number.isNaN(g) ? Infinity : Math.abs(g - want[i]!)), 0);
  const ratio = (got: Float64Array, want: Float64Array, abs: number, rel: number): number =>
    got.reduce(
      (m, g, i) => Math.max(m, Number.isNaN(g) ? Infinity : Math.abs(g - want[i]!) / (abs + rel * Math.abs(want[i]!))),
      0,
    );
  const tol = attentionTolerance(s.o.dtype as DType, variant);
  // lse's bound is the op's own check (src/attention/ops.ts)
  return {
    o: err(o!, ref.o),
    lse: err(lse!, ref.lse),
    oTol: ratio(o!, ref.o, tol.abs, tol.rel),
    lseTol: ratio(lse!, ref.lse, 2e-4, 2e-5),
  };
}

/** The spot check as a sentence for `Check.that`. */
export function describeSpot(e: { o: number; lse: number; oTol: number; lseTol: number }): string {
  return `max err o ${e.o.toExponential(2)} (${e.oTol.toFixed(2)}× tolerance), lse ${e.lse.toExponential(2)} (${e.lseTol.toFixed(2)}×)`;
}
