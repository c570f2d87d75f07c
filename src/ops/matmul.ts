/**
 * `matmul`: c = epilogue(a · b) with a [..., M, K] and b [K, N] (or [N, K] with `transB`, the layout
 * of HF `Linear` weights). Batch dimensions are allowed where each operand's batch shape either
 * equals the output's or is absent/all ones (a 2-D weight shared by every batch row).
 *
 * `epilogue` is an expression of the `expr.ts` language applied to the f32 accumulator `x0`, with
 * optional extra inputs `x1`, `x2`, … (inputs 2, 3, … of the op) broadcast to the output shape —
 * e.g. `x0 + x1` with a bias row [N], or `silu(x0) * x2`. It exists so the compiler can fuse an
 * elementwise consumer into the GEMM instead of writing and re-reading c.
 *
 * Example: `backend.run('matmul', { transB: true, epilogue: 'x0 + x1' }, [x, w, bias], [y])`.
 */
import { type TensorDesc, shapeString } from '../backends/backend.js';
import { type DType, isFloat, numel } from '../tensor/dtype.js';
import { evalExpr, exprArity } from './expr.js';
import { broadcastShapes, broadcastStrides } from './broadcast.js';
import { elementwiseExpr } from './elementwise.js';
import { defineOp, type OpCase } from './op-spec.js';
import { randomInput, storageEps } from './test-data.js';
import type { Rng } from '../util/rng.js';

export type MatmulPath = 'auto' | 'tiled' | 'gemv' | 'subgroup-matrix' | 'skinny';

export interface MatmulAttrs {
  readonly transB?: boolean;
  readonly outDtype?: DType;
  /** Expression over the f32 accumulator `x0` and extra inputs `x1…`; identity when absent. */
  readonly epilogue?: string;
  /** Forces one kernel (tests and benchmarks); a kernel that cannot run it reports why. */
  readonly path?: MatmulPath;
  /** Keeps bf16 operands out of the f16 subgroup-matrix path (it converts bf16 to f16, see there). */
  readonly precise?: boolean;
  readonly [key: string]: unknown;
}

/** The sizes of one matmul after batch folding, shared by the reference and every kernel. */
export interface MatmulGeometry {
  readonly M: number;
  readonly N: number;
  readonly K: number;
  /** Independent products (1 when b is 2-D: a's batch folds into M). */
  readonly batch: number;
  /** Element strides between batches (0 when that operand is shared). */
  readonly aBatchStride: number;
  readonly bBatchStride: number;
  readonly outShape: readonly number[];
}

export function matmulGeometry(attrs: MatmulAttrs, a: TensorDesc, b: TensorDesc): MatmulGeometry {
  if (a.shape.length < 2 || b.shape.length < 2)
    throw new Error(`matmul: operands need rank ≥ 2, got ${shapeString(a.shape)} and ${shapeString(b.shape)}`);
  const ka = a.shape[a.shape.length - 1]!;
  const mm = a.shape[a.shape.length - 2]!;
  const [b0, b1] = b.shape.slice(-2) as [number, number];
  const K = attrs.transB ? b1 : b0;
  const N = attrs.transB ? b0 : b1;
  if (ka !== K)
    throw new Error(
      `matmul: a ${shapeString(a.shape)} and b ${shapeString(b.shape)}${attrs.transB ? ' (transB)' : ''} disagree on K (${ka} vs ${K})`,
    );
  const aBatch = a.shape.slice(0, -2);
  const bBatch = b.shape.slice(0, -2);
  const batchShape = broadcastShapes('matmul', [aBatch, bBatch]);
  const outShape = [...batchShape, mm, N];
  const nb = numel(batchShape);
  const full = (s: readonly number[]) => numel(s) === nb && s.length === batchShape.length;
  const shared = (s: readonly number[]) => numel(s) === 1;
  if (!(full(aBatch) || shared(aBatch)) || !(full(bBatch) || shared(bBatch))) {
    throw new Error(
      `matmul: batch shapes ${shapeString(aBatch)} and ${shapeString(bBatch)} must each equal ${shapeString(batchShape)} or be all ones`,
    );
  }
  // a shared 2-D weight: a's batch rows are just more rows of one product
  if (shared(bBatch))
    return { M: numel(a.shape.slice(0, -1)), N, K, batch: 1, aBatchStride: 0, bBatchStride: 0, outShape };
  return { M: mm, N, K, batch: nb, aBatchStride: shared(aBatch) ? 0 : mm * K, bBatchStride: K * N, outShape };
}

/**
 * Extra epilogue inputs are read at (row, col) of the output folded to [rows, N], as
 * `row·rowStride + col·colStride`. That works when the input's row offset is linear in the folded
 * row index: every row axis of extent > 1 has stride rowStride × (rows below it), or all are 0.
 */
export function epilogueStrides(
  extra: TensorDesc,
  outShape: readonly number[],
): { rowStride: number; colStride: number } {
  broadcastShapes('matmul epilogue', [outShape, extra.shape]);
  const s = broadcastStrides(extra.shape, outShape);
  const colStride = s[s.length - 1]!;
  const rows = outShape.slice(0, -1);
  let below = 1;
  let rowStride: number | null = null;
  for (let i = rows.length - 1; i >= 0; i--) {
    if (rows[i]! > 1) {
      rowStride ??= s[i]! / below;
      if (s[i] !== rowStride * below)
        throw new Error(
          `matmul: epilogue input ${shapeString(extra.shape)} cannot be read row by row against ${shapeString(outShape)} (broadcast inner batch axis)`,
        );
    }
    below *= rows[i]!;
  }
  return { rowStride: rowStride ?? 0, colStride };
}

function outputs(attrs: MatmulAttrs, inputs: readonly TensorDesc[]): TensorDesc[] {
  if (inputs.length < 2) throw new Error(`matmul: needs a and b, ${inputs.length} inputs given`);
  const [a, b] = inputs as [TensorDesc, TensorDesc];
  for (const t of inputs) if (!isFloat(t.dtype)) throw new Error(`matmul: input dtype ${t.dtype} is not a float type`);
  const dtype = attrs.outDtype ?? a.dtype;
  if (!isFloat(dtype)) throw new Error(`matmul: output dtype ${dtype} is not a float type`);
  const g = matmulGeometry(attrs, a, b);
  const arity = attrs.epilogue ? exprArity(elementwiseExpr(attrs.epilogue)) : 1;
  if (arity - 1 > inputs.length - 2)
    throw new Error(`matmul: epilogue '${attrs.epilogue}' reads ${arity - 1} extra inputs, ${inputs.length - 2} given`);
  if (!attrs.epilogue && inputs.length > 2)
    throw new Error(`matmul: ${inputs.length - 2} extra inputs given without an epilogue`);
  for (const x of inputs.slice(2)) epilogueStrides(x, g.outShape);
  return [{ dtype, shape: [...g.outShape] }];
}

function reference(
  attrs: MatmulAttrs,
  inputs: readonly Float64Array[],
  inDescs: readonly TensorDesc[],
): Float64Array[] {
  const acc = accumulate(attrs, inputs, inDescs, false);
  const g = matmulGeometry(attrs, inDescs[0]!, inDescs[1]!);
  if (!attrs.epilogue) return [acc];
  const e = elementwiseExpr(attrs.epilogue);
  const extra = inDescs.slice(2).map((d) => epilogueStrides(d, g.outShape));
  const N = g.N;
  const args = new Array<number>(inputs.length - 1);
  for (let i = 0; i < acc.length; i++) {
    const row = Math.floor(i / N);
    const col = i - row * N;
    args[0] = acc[i]!;
    extra.forEach((s, j) => (args[j + 1] = inputs[j + 2]![row * s.rowStride + col * s.colStride]!));
    acc[i] = evalExpr(e, args);
  }
  return [acc];
}

/** Σ_k a·b in float64 (or Σ_k |a·b| when `magnitude`, the scale rounding errors grow with). */
function accumulate(
  attrs: MatmulAttrs,
  inputs: readonly Float64Array[],
  inDescs: readonly TensorDesc[],
  magnitude: boolean,
): Float64Array {
  const g = matmulGeometry(attrs, inDescs[0]!, inDescs[1]!);
  const [a, b] = inputs as [Float64Array, Float64Array];
  const { M, N, K } = g;
  const out = new Float64Array(g.batch * M * N);
  const bk = attrs.transB ? 1 : N;
  const bn = attrs.transB ? K : 1;
  for (let z = 0; z < g.batch; z++) {
    const ao = z * g.aBatchStride;
    const bo = z * g.bBatchStride;
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let s = 0;
        for (let k = 0; k < K; k++) {
          const p = a[ao + m * K + k]! * b[bo + k * bk + n * bn]!;
          s += magnitude ? Math.abs(p) : p;
        }
        out[(z * M + m) * N + n] = s;
      }
    }
  }
  return out;
}

/**
 * Tolerance from the arithmetic. Inputs are exact in their storage type and products of two
 * halves are exact in f32, so the error is the f32 accumulation (each add rounds by ≤ 2⁻²⁴ of the
 * running sum; tensor cores may truncate alignment bits, a few ulps more) — bounded by
 * 2⁻¹⁶·Σ|a·b|, which leaves 256× headroom over the random-walk estimate √K·2⁻²⁴ for K ≤ 4096 while
 * still catching a dropped or doubled term (an error of order |a·b| itself). bf16 operands
 * converted to f16 lose at most 2⁻²⁵ absolute below f16's normal range, also inside that bound.
 * The epilogue propagates the accumulator error through its slope (measured by evaluating it at
 * acc ± bound) and adds f32 evaluation error; the output's own rounding adds its storage epsilon.
 */
function check(
  attrs: MatmulAttrs,
  inputs: readonly Float64Array[],
  got: readonly Float64Array[],
  want: readonly Float64Array[],
  inDescs: readonly TensorDesc[],
  outDtype: DType,
): string | null {
  const mag = accumulate(attrs, inputs, inDescs, true);
  const acc = accumulate(attrs, inputs, inDescs, false);
  const g = matmulGeometry(attrs, inDescs[0]!, inDescs[1]!);
  const e = attrs.epilogue ? elementwiseExpr(attrs.epilogue) : null;
  const extra = inDescs.slice(2).map((d) => epilogueStrides(d, g.outShape));
  const outEps = storageEps(outDtype);
  const gv = got[0]!;
  const wv = want[0]!;
  if (gv.length !== wv.length) return `length ${gv.length}, expected ${wv.length}`;
  let failures = 0;
  let worst = -1;
  let worstExcess = 0;
  const args = new Array<number>(inputs.length - 1);
  for (let i = 0; i < gv.length; i++) {
    const bound = 2 ** -16 * mag[i]! + 1e-30;
    let spread = bound;
    if (e) {
      const row = Math.floor(i / g.N);
      const col = i - row * g.N;
      extra.forEach((s, j) => (args[j + 1] = inputs[j + 2]![row * s.rowStride + col * s.colStride]!));
      args[0] = acc[i]! + bound;
      const hi = evalExpr(e, args);
      args[0] = acc[i]! - bound;
      const lo = evalExpr(e, args);
      spread = Math.abs(hi - lo) / 2 + 1e-6 * (Math.abs(hi) + Math.abs(lo));
    }
    const w = wv[i]!;
    const tol = spread + 2 * outEps * Math.abs(w) + 1e-7;
    const x = gv[i]!;
    const excess =
      Number.isNaN(x) || Number.isNaN(w)
        ? Number.isNaN(x) && Number.isNaN(w)
          ? 0
          : Infinity
        : x === w
          ? 0
          : Math.abs(x - w) / tol;
    if (excess > 1) {
      failures++;
      if (excess > worstExcess) {
        worstExcess = excess;
        worst = i;
      }
    }
  }
  if (worst < 0) return null;
  const r = Math.floor(worst / g.N);
  return (
    `output 0: ${failures}/${gv.length} elements off; worst at [${r}, ${worst - r * g.N}]: got ${gv[worst]}, want ${wv[worst]}` +
    (Number.isNaN(gv[worst]!) ? ' (NaN: unwritten or invalid)' : ` (${worstExcess.toFixed(1)}× the tolerance)`)
  );
}

const EPILOGUES = ['x0 + x1', 'silu(x0) * x1', 'gelu(x0 * 0.5) + x1 * x2'];

/** Odd sizes that cross tile edges (tiles are powers of two), at sizes lavapipe runs quickly. */
function makeCases(rng: Rng, big: boolean): OpCase<MatmulAttrs>[] {
  const cases: OpCase<MatmulAttrs>[] = [];
  const add = (
    M: number,
    N: number,
    K: number,
    ad: DType,
    bd: DType,
    attrs: MatmulAttrs,
    extraShapes: number[][] = [],
    batch: number[] = [],
  ) => {
    const a = randomInput(rng, ad, [...batch, M, K]);
    const b = randomInput(rng, bd, attrs.transB ? [N, K] : [K, N]);
    const extra = extraShapes.map((s) => randomInput(rng, 'f32', s));
    const tags = [
      attrs.transB ? 'transB' : '',
      attrs.outDtype ? `→${attrs.outDtype}` : '',
      attrs.epilogue ? `epi '${attrs.epilogue}'` : '',
      attrs.path ? `path ${attrs.path}` : '',
    ].filter(Boolean);
    cases.push({
      label: `${[...batch, M].join('x')}x${N}x${K} ${ad}·${bd} ${tags.join(' ')}`.trim(),
      attrs,
      inputs: [a, b, ...extra],
    });
  };
  const floats: DType[] = ['f32', 'f16', 'bf16'];
  // every dtype pair appears once per layout at sizes that are neither tile multiples nor even
  for (const t of [false, true]) {
    for (const d of floats) {
      const other = rng.pick(floats);
      add(rng.pick([7, 33, 65]), rng.pick([33, 129]), rng.pick([31, 129, 257]), d, d, { transB: t });
      add(rng.pick([1, 19]), rng.pick([37, 64]), rng.pick([33, 64]), other, d, {
        transB: t,
        outDtype: rng.pick(floats),
      });
    }
  }
  // the decode shapes GEMV takes (M ≤ 16, half weights in [N, K]): vector path (K % 8 = 0) and scalar path
  add(1, 130, 256, 'f32', 'bf16', { transB: true });
  add(5, 66, 200, 'f16', 'f16', { transB: true, outDtype: 'bf16' });
  add(16, 33, 257, 'bf16', 'f16', { transB: true, outDtype: 'f16' });
  add(3, 7, 1, 'f32', 'f32', { transB: true });
  // the same shapes forced through the tiled kernel, so both kernels see small M
  add(4, 130, 256, 'f16', 'bf16', { transB: true, path: 'tiled' });
  // epilogues with bias rows, per-row scales and full tensors; bf16 output with odd N (word straddles rows)
  add(9, 31, 65, 'f16', 'f16', { transB: true, epilogue: EPILOGUES[0], outDtype: 'bf16' }, [[31]]);
  add(33, 40, 47, 'f32', 'bf16', { epilogue: EPILOGUES[1] }, [[33, 40]]);
  add(2, 48, 64, 'bf16', 'bf16', { transB: true, epilogue: EPILOGUES[2] }, [[2, 1], [48]]);
  // a batch of independent products (attention-like) and a batch folded into M
  add(13, 17, 24, 'f32', 'f16', {}, [], [3]);
  add(6, 20, 33, 'f16', 'f16', { transB: true }, [], [2, 2]);
  if (big) {
    // real-GPU sizes that still keep the float64 oracle (run three times by the check) to seconds
    add(520, 1024, 520, 'f16', 'f16', { transB: true });
    add(300, 648, 1000, 'bf16', 'f16', {});
    add(8, 4096, 1024, 'f32', 'bf16', { transB: true });
    // grids too small to fill a GPU: tensor-core kernels split K and sum the partials
    add(100, 256, 2048, 'f16', 'f16', { transB: true, epilogue: 'x0 * x1', outDtype: 'bf16' }, [[100, 1]]);
    add(12, 200, 1536, 'bf16', 'bf16', { transB: true, epilogue: 'x0 + x1' }, [[200]]);
  }
  return cases;
}

export const matmulOp = defineOp<MatmulAttrs>({
  name: 'matmul',
  outputs,
  reference: (attrs, inputs, inDescs) => reference(attrs, inputs, inDescs),
  cases: (rng, { big }) => makeCases(rng, big),
  // `check` decides (its bound needs the data); this is what the bound reduces to for unit-scale inputs and K ≈ 256
  tolerance: () => ({ abs: 2 ** -16 * 256, rel: 2 * storageEps('bf16') }),
  check: (attrs, inputs, got, want, inDescs) =>
    check(attrs, inputs, got, want, inDescs, attrs.outDtype ?? inDescs[0]!.dtype),
});
