/**
 * The sparse ops on the CPU (`spmm_coo|csr|ell|bsr|hyb`: Y [m, f] = A · X [k, f]; `sddmm_csr`),
 * reading each format's device layout (src/sparse/device-layout.ts) from the shared memory.
 *
 * TypeScript rather than WebAssembly: these serve the sparse module's graph workloads, not a
 * decode step, and their cost is the irregular gathers of X rows, not arithmetic a vector unit
 * would speed up. Every product and running sum is rounded to f32 (`Math.fround`), so the result
 * is an f32 computation held to the ops' f32 summation bound like the GPU kernels.
 */
import type { Attrs, Tensor } from '../backend.js';
import type { OpContext } from './cpu-op-context.js';

/** Column index of ELL padding (src/sparse/formats.ts `ELL_PAD`; that module sits above this layer). */
const ELL_PAD = -1;

interface HybPart {
  readonly width: number;
  readonly rows: number;
  readonly rowIdsAt: number;
  readonly colsAt: number;
  readonly indptrAt: number;
  readonly valsAt: number;
}

/** The split rows of a hybrid (src/sparse/device-layout.ts `SplitPart`): segments over their entries. */
interface SplitPart {
  readonly rows: number;
  readonly rowIdsAt: number;
  readonly segPtrAt: number;
  readonly rowSegsAt: number;
  readonly colsAt: number;
  readonly valsAt: number;
}

type Visit = (row: number, col: number, v: number) => void;

const i32 = (ctx: OpContext, t: Tensor) =>
  ctx.heap.i32(
    ctx.addr(t),
    t.shape.reduce((a, b) => a * b, 1),
  );
const f32 = (ctx: OpContext, t: Tensor) =>
  ctx.heap.f32(
    ctx.addr(t),
    t.shape.reduce((a, b) => a * b, 1),
  );

/** Calls `visit` for every stored nonzero of the op's sparse inputs. */
function walk(op: string, ctx: OpContext, attrs: Attrs, ins: readonly Tensor[], k: number, visit: Visit): void {
  switch (op) {
    case 'spmm_coo': {
      const [rows, cols, vals] = [i32(ctx, ins[0]!), i32(ctx, ins[1]!), f32(ctx, ins[2]!)];
      for (let e = 0; e < vals.length; e++) visit(rows[e]!, cols[e]!, vals[e]!);
      return;
    }
    case 'spmm_csr': {
      const [indptr, indices, vals] = [i32(ctx, ins[0]!), i32(ctx, ins[1]!), f32(ctx, ins[2]!)];
      for (let i = 0; i + 1 < indptr.length; i++)
        for (let e = indptr[i]!; e < indptr[i + 1]!; e++) visit(i, indices[e]!, vals[e]!);
      return;
    }
    case 'spmm_ell': {
      const [m, width] = ins[0]!.shape as [number, number];
      const [cols, vals] = [i32(ctx, ins[0]!), f32(ctx, ins[1]!)];
      for (let i = 0; i < m; i++)
        for (let s = 0; s < width && cols[i * width + s] !== ELL_PAD; s++)
          visit(i, cols[i * width + s]!, vals[i * width + s]!);
      return;
    }
    case 'spmm_bsr': {
      const m = attrs.m as number;
      const b = attrs.block as number;
      const [indptr, indices, blocks] = [i32(ctx, ins[0]!), i32(ctx, ins[1]!), f32(ctx, ins[2]!)];
      for (let br = 0; br + 1 < indptr.length; br++)
        for (let s = indptr[br]!; s < indptr[br + 1]!; s++)
          for (let ii = 0; ii < b && br * b + ii < m; ii++)
            for (let jj = 0; jj < b && indices[s]! * b + jj < k; jj++)
              visit(br * b + ii, indices[s]! * b + jj, blocks[(s * b + ii) * b + jj]!);
      return;
    }
    case 'spmm_hyb': {
      const [idx, vals] = [i32(ctx, ins[0]!), f32(ctx, ins[1]!)];
      const layout = attrs.layout as { parts: readonly HybPart[]; split?: SplitPart };
      const sp = layout.split;
      // a split row's entries run from its first segment's start to its last segment's end
      for (let r = 0; sp && r < sp.rows; r++) {
        const row = idx[sp.rowIdsAt + r]!;
        const lo = idx[sp.segPtrAt + idx[sp.rowSegsAt + r]!]!;
        const hi = idx[sp.segPtrAt + idx[sp.rowSegsAt + r + 1]!]!;
        for (let e = lo; e < hi; e++) visit(row, idx[sp.colsAt + e]!, vals[sp.valsAt + e]!);
      }
      for (const p of layout.parts)
        for (let r = 0; r < p.rows; r++) {
          const row = idx[p.rowIdsAt + r]!;
          if (p.width > 0) {
            for (let s = 0; s < p.width && idx[p.colsAt + r * p.width + s] !== ELL_PAD; s++)
              visit(row, idx[p.colsAt + r * p.width + s]!, vals[p.valsAt + r * p.width + s]!);
          } else {
            for (let e = idx[p.indptrAt + r]!; e < idx[p.indptrAt + r + 1]!; e++)
              visit(row, idx[p.colsAt + e]!, vals[p.valsAt + e]!);
          }
        }
      return;
    }
  }
  throw new Error(`${op}: not a sparse op`);
}

/** The implementation of spmm_<format>: X is the last input, Y the f32 output. */
export function spmm(op: string) {
  return (ctx: OpContext, attrs: Attrs, ins: readonly Tensor[], [out]: readonly Tensor[]): void => {
    const xt = ins[ins.length - 1]!;
    const [k, f] = xt.shape as [number, number];
    const x = f32(ctx, xt);
    const y = f32(ctx, out!);
    y.fill(0);
    walk(op, ctx, attrs, ins, k, (i, j, v) => {
      const yo = i * f;
      const xo = j * f;
      for (let c = 0; c < f; c++) y[yo + c] = Math.fround(y[yo + c]! + Math.fround(v * x[xo + c]!));
    });
  };
}

/** sddmm_csr: out[e] = ⟨A[i, :], B[j, :]⟩ at the CSR nonzeros (i, j). */
export function sddmmCsr(ctx: OpContext, _attrs: Attrs, ins: readonly Tensor[], [out]: readonly Tensor[]): void {
  const [indptr, indices, a, b] = [i32(ctx, ins[0]!), i32(ctx, ins[1]!), f32(ctx, ins[2]!), f32(ctx, ins[3]!)];
  const d = ins[2]!.shape[1]!;
  const o = f32(ctx, out!);
  for (let i = 0; i + 1 < indptr.length; i++)
    for (let e = indptr[i]!; e < indptr[i + 1]!; e++) {
      const ao = i * d;
      const bo = indices[e]! * d;
      let s = 0;
      for (let c = 0; c < d; c++) s = Math.fround(s + Math.fround(a[ao + c]! * b[bo + c]!));
      o[e] = s;
    }
}
