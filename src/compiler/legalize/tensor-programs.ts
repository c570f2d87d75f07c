/**
 * Tensor programs for the graph ops that become loop nests of ours rather than library kernels:
 * elementwise and broadcasting math, casts, the injective data movers (reshape, permute_dims,
 * concat, slice) and reductions (sum, mean, max, batched matmul).
 */
import type { UnaryOp } from '../../ops/expr.js';
import type { DType } from '../../tensor/dtype.js';
import { Sym } from '../../ir/sym/sym.js';
import {
  type BufferParam,
  DEFAULT_SCHEDULE,
  type FloatBinOp,
  type PExpr,
  type ProgramKind,
  type TensorProgram,
  axes,
  bin,
  flt,
  int,
  load,
  pvar,
  reduceVar,
  select,
  symToP,
  un,
} from '../../ir/tir/program.js';

const inName = (i: number) => `x${i}`;

function program(
  name: string,
  kind: ProgramKind,
  inputs: BufferParam[],
  out: BufferParam,
  body: PExpr,
  extra: Partial<TensorProgram> = {},
): TensorProgram {
  return { name, kind, inputs, output: out, body, schedule: DEFAULT_SCHEDULE, ...extra };
}

/** A program whose body reads its one input x0 at `idx`, the output in x's dtype. */
function readOf(
  name: string,
  kind: ProgramKind,
  x: TensorDescSym,
  outShape: readonly Sym[],
  idx: PExpr[],
  extra: Partial<TensorProgram> = {},
): TensorProgram {
  return program(
    name,
    kind,
    [{ name: 'x0', ...x }],
    { name: 'out', dtype: x.dtype, shape: outShape },
    load('x0', idx),
    extra,
  );
}

/** Index list for reading `shape` broadcast (NumPy, right-aligned) into an output of rank `outRank`. */
export function broadcastIndex(shape: readonly Sym[], outShape: readonly Sym[]): PExpr[] {
  const off = outShape.length - shape.length;
  return shape.map((d, k) => (d.value === 1 && outShape[off + k]!.value !== 1 ? int(0) : pvar(`i${off + k}`)));
}

export interface TensorDescSym {
  readonly dtype: DType;
  readonly shape: readonly Sym[];
}

/** An elementwise program: `f` gets each input already loaded (broadcast to the output). */
export function elementwiseProgram(
  name: string,
  ins: readonly TensorDescSym[],
  out: TensorDescSym,
  f: (xs: PExpr[]) => PExpr,
): TensorProgram {
  const inputs = ins.map((t, i) => ({ name: inName(i), ...t }));
  const loads = inputs.map((b) => load(b.name, broadcastIndex(b.shape, out.shape)));
  return program(name, 'elementwise', inputs, { name: 'out', ...out }, f(loads));
}

export const BINARY_PEXPR: Readonly<Record<string, FloatBinOp>> = {
  add: '+',
  subtract: '-',
  multiply: '*',
  divide: '/',
  maximum: 'max',
  minimum: 'min',
  power: 'pow',
};

export function unaryBody(op: UnaryOp) {
  return (xs: PExpr[]) => un(op, xs[0]!);
}

export function binaryBody(op: string) {
  const o = BINARY_PEXPR[op];
  if (!o) throw new Error(`no elementwise program for '${op}'`);
  return (xs: PExpr[]) => bin(o, xs[0]!, xs[1]!);
}

export function scaleBody(factor: number) {
  return (xs: PExpr[]) => bin('*', xs[0]!, flt(factor));
}

export function permuteProgram(name: string, x: TensorDescSym, perm: readonly number[]): TensorProgram {
  const outShape = perm.map((a) => x.shape[a]!);
  const idx: PExpr[] = new Array(x.shape.length);
  perm.forEach((a, j) => {
    idx[a] = pvar(`i${j}`);
  });
  return readOf(name, 'injective', x, outShape, idx);
}

export function concatProgram(
  name: string,
  xs: readonly TensorDescSym[],
  axis: number,
  outShape: readonly Sym[],
): TensorProgram {
  const inputs = xs.map((t, i) => ({ name: inName(i), ...t }));
  const ia = pvar(`i${axis}`);
  const offsets: Sym[] = [];
  let off = Sym.const(0);
  for (const t of xs) {
    offsets.push(off);
    off = off.add(t.shape[axis]!);
  }
  const loadAt = (i: number) =>
    load(
      inName(i),
      axes(outShape.length).map((a, k) =>
        k === axis ? (offsets[i]!.value === 0 ? a : bin('-', a, symToP(offsets[i]!))) : a,
      ),
    );
  let body = loadAt(xs.length - 1);
  for (let i = xs.length - 2; i >= 0; i--) body = select(bin('<', ia, symToP(offsets[i + 1]!)), loadAt(i), body);
  return program(name, 'injective', inputs, { name: 'out', dtype: xs[0]!.dtype, shape: outShape }, body);
}

export function sliceProgram(
  name: string,
  x: TensorDescSym,
  axis: number,
  begin: Sym,
  outShape: readonly Sym[],
): TensorProgram {
  const idx = axes(outShape.length).map((a, k) => (k === axis && begin.value !== 0 ? bin('+', a, symToP(begin)) : a));
  return readOf(name, 'injective', x, outShape, idx);
}

/** sum/mean/max over `reduced` axes of x; `keep` leaves size-1 axes in the output. */
export function reduceProgram(
  name: string,
  op: 'sum' | 'mean' | 'max',
  x: TensorDescSym,
  reduced: readonly number[],
  keep: boolean,
  outShape: readonly Sym[],
): TensorProgram {
  const idx: PExpr[] = [];
  let outAxis = 0;
  let r = 0;
  x.shape.forEach((_, k) => {
    if (reduced.includes(k)) {
      idx.push(pvar(reduceVar(r++)));
      if (keep) outAxis++;
    } else idx.push(pvar(`i${outAxis++}`));
  });
  const extents = reduced.map((k) => x.shape[k]!);
  const count = extents.reduce((a, d) => a.mul(d), Sym.const(1));
  const epilogue = op === 'mean' ? bin('/', pvar('acc'), symToP(count)) : undefined;
  return readOf(name, 'reduction', x, outShape, idx, {
    reduce: { op: op === 'max' ? 'max' : 'sum', extents },
    ...(epilogue ? { epilogue } : {}),
  });
}

/** Batched matmul as a reduction (used when the library's 2-D kernel does not fit). */
export function batchedMatmulProgram(
  name: string,
  a: TensorDescSym,
  b: TensorDescSym,
  transB: boolean,
  out: TensorDescSym,
): TensorProgram {
  const R = out.shape.length;
  const batchIdx = (shape: readonly Sym[]) => broadcastIndex(shape.slice(0, -2), out.shape.slice(0, -2));
  const k = pvar('r0');
  const ia = [...batchIdx(a.shape), pvar(`i${R - 2}`), k];
  const ib = [...batchIdx(b.shape), ...(transB ? [pvar(`i${R - 1}`), k] : [k, pvar(`i${R - 1}`)])];
  return program(
    name,
    'reduction',
    [
      { name: 'x0', ...a },
      { name: 'x1', ...b },
    ],
    { name: 'out', ...out },
    bin('*', load('x0', ia), load('x1', ib)),
    {
      reduce: { op: 'sum', extents: [a.shape[a.shape.length - 1]!] },
    },
  );
}
