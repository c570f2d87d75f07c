/**
 * Float64 oracle of the partitioned kernel's two ops (partitioned-kernel.ts, same layouts): the
 * GEMM of nano-batch A and paged decode attention of nano-batch B, written for clarity.
 */
import type { PartitionedShape } from './partitioned-kernel.js';

/** y[r, n] = Σ_k x[r, k] · w[k, n]. */
export function referenceGemm(
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  rows: number,
  K: number,
  N: number,
): Float64Array {
  const y = new Float64Array(rows * N);
  for (let r = 0; r < rows; r++)
    for (let k = 0; k < K; k++) {
      const xv = x[r * K + k]!;
      for (let n = 0; n < N; n++) y[r * N + n]! += xv * w[k * N + n]!;
    }
  return y;
}

/** The page table words of the kernel's `meta` binding: indptr, kvLen, then the page ids of each request. */
export function packPageTable(pagesPerRequest: readonly (readonly number[])[], kvLens: readonly number[]): Uint32Array {
  const n = pagesPerRequest.length;
  const total = pagesPerRequest.reduce((a, p) => a + p.length, 0);
  const meta = new Uint32Array(2 * n + 1 + total);
  let at = 0;
  pagesPerRequest.forEach((pages, i) => {
    meta[i] = at;
    meta[n + 1 + i] = kvLens[i]!;
    for (const p of pages) meta[2 * n + 1 + at++] = p;
  });
  meta[n] = at;
  return meta;
}

/** o[req, h, :] = softmax(scale · q·Kᵀ) · V over the request's kvLen positions, K/V read through its pages. */
export function referenceDecodeAttention(
  q: ArrayLike<number>,
  kv: ArrayLike<number>,
  meta: Uint32Array,
  s: Pick<PartitionedShape, 'reqsB' | 'heads' | 'kvHeads' | 'headDim' | 'pageSize' | 'scale'>,
): Float64Array {
  const { reqsB: n, heads, kvHeads, headDim: D, pageSize } = s;
  const scale = s.scale ?? 1 / Math.sqrt(D);
  const o = new Float64Array(n * heads * D);
  const rowStride = kvHeads * D;
  const at = (req: number, j: number, which: 0 | 1, kvh: number) => {
    const page = meta[2 * n + 1 + meta[req]! + Math.floor(j / pageSize)]!;
    return page * 2 * pageSize * rowStride + (which * pageSize + (j % pageSize)) * rowStride + kvh * D;
  };
  for (let req = 0; req < n; req++) {
    const len = meta[n + 1 + req]!;
    for (let h = 0; h < heads; h++) {
      const kvh = Math.floor(h / (heads / kvHeads));
      const qb = (req * heads + h) * D;
      const sc = new Float64Array(len);
      for (let j = 0; j < len; j++) {
        const kb = at(req, j, 0, kvh);
        let dot = 0;
        for (let d = 0; d < D; d++) dot += q[qb + d]! * kv[kb + d]!;
        sc[j] = dot * scale;
      }
      const m = Math.max(...sc);
      let l = 0;
      for (let j = 0; j < len; j++) l += sc[j] = Math.exp(sc[j]! - m);
      for (let j = 0; j < len; j++) {
        const vb = at(req, j, 1, kvh);
        for (let d = 0; d < D; d++) o[qb + d]! += (sc[j]! / l) * kv[vb + d]!;
      }
    }
  }
  return o;
}
