/**
 * Random paged batches for tests and op cases: lengths, a pool with pages handed out in shuffled
 * order (so a kernel that ignores the page table fails), the BSR arrays and, when asked, a custom
 * mask. Values are rounded to their stored dtype.
 */
import type { DType } from '../tensor/dtype.js';
import { toHost } from '../tensor/dtype.js';
import type { Rng } from '../util/rng.js';
import type { CaseInput } from '../ops/op-spec.js';
import { type KvLayout, poolShape } from './kv-layout.js';
import { queryOffsets } from './plan.js';

export interface BatchShape {
  readonly qoLens: readonly number[];
  readonly kvLens: readonly number[];
  readonly numQoHeads: number;
  readonly numKvHeads: number;
  readonly headDim: number;
  readonly pageSize: number;
  readonly layout: KvLayout;
  readonly dtype: DType;
  readonly kvDtype?: DType;
  /** Unused pages added to the pool. */
  readonly sparePages?: number;
}

export interface PagedBatch {
  readonly q: CaseInput;
  readonly pool: CaseInput;
  readonly qoIndptr: CaseInput;
  readonly kvIndptr: CaseInput;
  readonly kvIndices: CaseInput;
  readonly lastPageLen: CaseInput;
  readonly numPages: number;
}

const i32 = (xs: ArrayLike<number>): CaseInput => ({
  desc: { dtype: 'i32', shape: [xs.length] },
  data: Int32Array.from(xs as ArrayLike<number>),
});

export function pageRows(
  kvLens: readonly number[],
  pageSize: number,
  pages: readonly number[],
): { indptr: number[]; indices: number[]; last: number[] } {
  const indptr = [0];
  const indices: number[] = [];
  const last: number[] = [];
  let next = 0;
  for (const len of kvLens) {
    const n = Math.ceil(len / pageSize);
    for (let i = 0; i < n; i++) indices.push(pages[next++]!);
    indptr.push(indices.length);
    last.push(n === 0 ? 0 : len - (n - 1) * pageSize);
  }
  return { indptr, indices, last };
}

export function shuffled(rng: Rng, n: number): number[] {
  const a = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

export function randomPagedBatch(rng: Rng, s: BatchShape): PagedBatch {
  const kvDtype = s.kvDtype ?? s.dtype;
  const used = s.kvLens.reduce((a, l) => a + Math.ceil(l / s.pageSize), 0);
  const numPages = Math.max(1, used + (s.sparePages ?? 1));
  const { indptr, indices, last } = pageRows(s.kvLens, s.pageSize, shuffled(rng, numPages));
  const shape = poolShape({
    numPages,
    pageSize: s.pageSize,
    numKvHeads: s.numKvHeads,
    headDim: s.headDim,
    layout: s.layout,
  });
  const total = s.qoLens.reduce((a, b) => a + b, 0);
  const qShape = [total, s.numQoHeads, s.headDim];
  const count = (sh: number[]): number => sh.reduce((a, b) => a * b, 1);
  return {
    q: { desc: { dtype: s.dtype, shape: qShape }, data: toHost(s.dtype, rng.normals(count(qShape))) },
    pool: { desc: { dtype: kvDtype, shape }, data: toHost(kvDtype, rng.normals(count(shape))) },
    qoIndptr: i32(queryOffsets(s.qoLens)),
    kvIndptr: i32(indptr),
    kvIndices: i32(indices.length ? indices : [0]),
    lastPageLen: i32(last),
    numPages,
  };
}

/** A random 0/1 mask per (query token, key) and its per-request offsets, each query row keeping ≥ 1 key. */
export function randomMask(
  rng: Rng,
  qoLens: readonly number[],
  kvLens: readonly number[],
): { mask: CaseInput; maskIndptr: CaseInput } {
  const bits: number[] = [];
  const indptr = [0];
  qoLens.forEach((q, b) => {
    const kv = kvLens[b]!;
    for (let i = 0; i < q; i++) {
      const keep = rng.int(0, kv - 1);
      for (let j = 0; j < kv; j++) bits.push(j === keep || rng.next() < 0.6 ? 1 : 0);
    }
    indptr.push(bits.length);
  });
  return { mask: i32(bits.length ? bits : [0]), maskIndptr: i32(indptr) };
}

export interface AppendBatch {
  readonly batch: PagedBatch;
  /** K/V heads (the query heads of the batch too). */
  readonly heads: number;
  readonly pageSize: number;
  /** New tokens per request. */
  readonly news: number[];
  /** Each request's KV length, its new tokens included. */
  readonly kvLens: number[];
  /** New tokens in all. */
  readonly total: number;
}

/**
 * A random append_kv batch: 1–3 KV heads, pages of 1, 3 or 16 slots, 1–4 requests mixing prefill
 * chunks, decode steps and requests with nothing new, after up to 30 tokens of history each; the
 * pool in `dtype` with two spare pages.
 */
export function randomAppendBatch(rng: Rng, o: { layout: KvLayout; headDim: number; dtype: DType }): AppendBatch {
  const heads = rng.int(1, 3);
  const pageSize = rng.pick([1, 3, 16]);
  const requests = rng.int(1, 4);
  const news = Array.from({ length: requests }, () => rng.pick([0, 1, 1, rng.int(2, 20)]));
  const kvLens = news.map((n) => n + rng.int(0, 30));
  const batch = randomPagedBatch(rng, {
    qoLens: news,
    kvLens,
    numQoHeads: heads,
    numKvHeads: heads,
    headDim: o.headDim,
    pageSize,
    layout: o.layout,
    dtype: o.dtype,
    sparePages: 2,
  });
  return { batch, heads, pageSize, news, kvLens, total: news.reduce((a, c) => a + c, 0) };
}
