/**
 * How each format is laid out in device tensors, and the op that reads it. Index arrays are i32,
 * values f32. The hybrid packs every part into one index tensor and one value tensor (four
 * storage bindings in all, well inside WebGPU's default limit of eight per stage) and describes
 * the parts (and the split rows' segments, if any) in `HybLayout`, which travels in the op's attributes and reaches the kernel as uniforms.
 */
import type { TensorDesc } from '../backends/backend.js';
import type { HostArray } from '../tensor/dtype.js';
import type { SparseMatrix } from './formats.js';

/** One part of a packed hybrid: an ELL bucket (`width` > 0) or the CSR remainder (`width` 0). */
export interface HybPart {
  readonly width: number;
  readonly rows: number;
  /** Offsets into the packed index tensor. */
  readonly rowIdsAt: number;
  /** ELL: columns [rows × width]; CSR: column indices, addressed through the local indptr. */
  readonly colsAt: number;
  /** CSR only: the local indptr [rows + 1] (0 for ELL parts). */
  readonly indptrAt: number;
  /** Offset into the packed value tensor. */
  readonly valsAt: number;
}

/**
 * The split part of a packed hybrid (`row-split.ts`): `rows` long rows in `segs` segments; the
 * offsets of its row ids, its segment → entry pointer [segs + 1], its row → segment pointer
 * [rows + 1], its columns (in the index tensor) and values (in the value tensor).
 */
export interface SplitPart {
  readonly segLen: number;
  readonly rows: number;
  readonly segs: number;
  readonly rowIdsAt: number;
  readonly segPtrAt: number;
  readonly rowSegsAt: number;
  readonly colsAt: number;
  readonly valsAt: number;
}

export interface HybLayout {
  readonly parts: readonly HybPart[];
  readonly split?: SplitPart;
}

export const SPMM_OPS = ['spmm_coo', 'spmm_csr', 'spmm_ell', 'spmm_bsr', 'spmm_hyb'] as const;
export type SpmmOpName = (typeof SPMM_OPS)[number];

export interface DeviceSparse {
  readonly op: SpmmOpName;
  /** Attributes the layout needs (m, block, layout); the caller adds the schedule. */
  readonly attrs: Record<string, unknown>;
  readonly arrays: { readonly desc: TensorDesc; readonly data: HostArray }[];
}

const i32 = (data: Int32Array, shape = [data.length]) => ({ desc: { dtype: 'i32' as const, shape }, data });
const f32 = (data: Float32Array, shape = [data.length]) => ({ desc: { dtype: 'f32' as const, shape }, data });

export function deviceLayout(a: SparseMatrix): DeviceSparse {
  switch (a.kind) {
    case 'coo':
      return { op: 'spmm_coo', attrs: { m: a.m }, arrays: [i32(a.rows), i32(a.cols), f32(a.vals)] };
    case 'csr':
      return { op: 'spmm_csr', attrs: {}, arrays: [i32(a.indptr), i32(a.indices), f32(a.vals)] };
    case 'csc':
      // a column-major walk scatters into output rows (atomics on f32, which WGSL lacks)
      throw new Error('sparse: no SpMM kernel reads CSC; convert it to CSR (toFormat(toCoo(a), { kind: "csr" }))');
    case 'ell':
      return {
        op: 'spmm_ell',
        attrs: {},
        arrays: [i32(a.cols, [a.m, a.width]), f32(a.vals, [a.m, a.width])],
      };
    case 'bsr':
      return {
        op: 'spmm_bsr',
        attrs: { m: a.m, block: a.block },
        arrays: [i32(a.indptr), i32(a.indices), f32(a.blocks, [a.indices.length, a.block, a.block])],
      };
    case 'hyb':
      return packHyb(a);
  }
}

function packHyb(a: Extract<SparseMatrix, { kind: 'hyb' }>): DeviceSparse {
  const idx: Int32Array[] = [];
  const vals: Float32Array[] = [];
  let iAt = 0;
  let vAt = 0;
  const push = (x: Int32Array): number => {
    idx.push(x);
    iAt += x.length;
    return iAt - x.length;
  };
  const pushV = (x: Float32Array): number => {
    vals.push(x);
    vAt += x.length;
    return vAt - x.length;
  };
  const parts: HybPart[] = a.buckets.map((b) => ({
    width: b.width,
    rows: b.rowIds.length,
    rowIdsAt: push(b.rowIds),
    colsAt: push(b.cols),
    indptrAt: 0,
    valsAt: pushV(b.vals),
  }));
  const r = a.remainder;
  if (r.rowIds.length > 0)
    parts.push({
      width: 0,
      rows: r.rowIds.length,
      rowIdsAt: push(r.rowIds),
      indptrAt: push(r.indptr),
      colsAt: push(r.indices),
      valsAt: pushV(r.vals),
    });
  const sp = a.split;
  const split: SplitPart | undefined = sp && {
    segLen: sp.segLen,
    rows: sp.rowIds.length,
    segs: sp.segPtr.length - 1,
    rowIdsAt: push(sp.rowIds),
    segPtrAt: push(sp.segPtr),
    rowSegsAt: push(sp.rowSegs),
    colsAt: push(sp.indices),
    valsAt: pushV(sp.vals),
  };
  const index = concat(idx, new Int32Array(iAt));
  const value = concat(vals, new Float32Array(vAt));
  const layout: HybLayout = split ? { parts, split } : { parts };
  return { op: 'spmm_hyb', attrs: { m: a.m, layout }, arrays: [i32(index), f32(value)] };
}

function concat<T extends Int32Array | Float32Array>(parts: readonly T[], out: T): T {
  let at = 0;
  for (const x of parts) {
    out.set(x, at);
    at += x.length;
  }
  return out;
}
