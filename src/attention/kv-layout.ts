/**
 * The paged KV cache as a block-sparse (BSR) matrix, FlashInfer's view: a layer's pool holds
 * `numPages` pages of `pageSize` tokens, K and V of a page side by side; a request's KV is one
 * row of a BSR matrix — `indptr[b]..indptr[b+1]` index its pages in `indices`, and
 * `lastPageLen[b]` says how full its last page is.
 *
 * Pool shape: NHD `[pages, 2, pageSize, kvHeads, headDim]`, HND `[pages, 2, kvHeads, pageSize, headDim]`
 * (index 0 of the second axis is K, 1 is V). HND keeps one head's tokens contiguous, which is what
 * a decode kernel reading one head streams through; NHD matches how new tokens arrive.
 */
import type { DType } from '../tensor/dtype.js';

export type KvLayout = 'NHD' | 'HND';

export interface PoolGeometry {
  readonly numPages: number;
  readonly pageSize: number;
  readonly numKvHeads: number;
  readonly headDim: number;
  readonly layout: KvLayout;
}

export const KV_DTYPES: readonly DType[] = ['f32', 'f16', 'bf16'];
export const MAX_PAGE_SIZE = 64;

export class PageTableError extends Error {
  constructor(message: string) {
    super(
      `${message}\n  → check the page table the request was planned with (indices, lengths and pool size must agree)`,
    );
    this.name = 'PageTableError';
  }
}

export function poolShape(g: PoolGeometry): number[] {
  return g.layout === 'NHD'
    ? [g.numPages, 2, g.pageSize, g.numKvHeads, g.headDim]
    : [g.numPages, 2, g.numKvHeads, g.pageSize, g.headDim];
}

/** Reads the geometry back from a pool's shape. */
export function poolGeometry(shape: readonly number[], layout: KvLayout, op = 'attention'): PoolGeometry {
  if (shape.length !== 5 || shape[1] !== 2)
    throw new Error(`${op}: KV pool must have shape [pages, 2, …] of rank 5, got [${shape.join(', ')}]`);
  const [numPages, , a, b, headDim] = shape as [number, number, number, number, number];
  const g =
    layout === 'NHD'
      ? { numPages, pageSize: a, numKvHeads: b, headDim, layout }
      : { numPages, pageSize: b, numKvHeads: a, headDim, layout };
  if (g.pageSize < 1 || g.pageSize > MAX_PAGE_SIZE)
    throw new Error(`${op}: page size ${g.pageSize} outside 1…${MAX_PAGE_SIZE}`);
  return g;
}

/** Element offset of (page, K|V, token slot, head, d) in the pool. */
export function poolOffset(g: PoolGeometry, page: number, kv: 0 | 1, slot: number, head: number, d: number): number {
  const pageBase = (page * 2 + kv) * g.pageSize * g.numKvHeads;
  const row = g.layout === 'NHD' ? slot * g.numKvHeads + head : head * g.pageSize + slot;
  return (pageBase + row) * g.headDim + d;
}

/** Tokens in request b's KV, from its BSR row. */
export function kvLength(
  indptr: ArrayLike<number>,
  lastPageLen: ArrayLike<number>,
  pageSize: number,
  b: number,
): number {
  const pages = indptr[b + 1]! - indptr[b]!;
  return pages === 0 ? 0 : (pages - 1) * pageSize + lastPageLen[b]!;
}

/**
 * Checks a BSR page table on the host before anything is dispatched: monotone indptr, page
 * indices inside the pool, last-page lengths in 1…pageSize. Throws `PageTableError` naming the request.
 */
export function validatePageTable(
  indptr: ArrayLike<number>,
  indices: ArrayLike<number>,
  lastPageLen: ArrayLike<number>,
  batch: number,
  g: Pick<PoolGeometry, 'numPages' | 'pageSize'>,
): void {
  if (indptr.length < batch + 1)
    throw new PageTableError(`indptr has ${indptr.length} entries for ${batch} requests (needs ${batch + 1})`);
  if (indptr[0] !== 0) throw new PageTableError(`indptr[0] is ${indptr[0]}, must be 0`);
  for (let b = 0; b < batch; b++) {
    const lo = indptr[b]!;
    const hi = indptr[b + 1]!;
    if (hi < lo) throw new PageTableError(`request ${b}: indptr decreases (${lo} → ${hi})`);
    if (hi > indices.length)
      throw new PageTableError(`request ${b}: indptr ${hi} past the ${indices.length} page indices`);
    for (let i = lo; i < hi; i++) {
      const p = indices[i]!;
      if (!Number.isInteger(p) || p < 0 || p >= g.numPages)
        throw new PageTableError(`request ${b}: page index ${p} out of range (pool has ${g.numPages} pages)`);
    }
    const last = lastPageLen[b]!;
    if (hi > lo && (last < 1 || last > g.pageSize))
      throw new PageTableError(`request ${b}: last page length ${last} outside 1…${g.pageSize}`);
  }
}
