/**
 * Tensor programs for the NHWC image ops (`src/ir/ops/vision.ts`): a direct convolution as a
 * reduction over (C, KH, KW) per output element (after a zero-padding pass), and nearest-neighbour
 * resizing as a gather.
 */
import type { Sym } from '../../ir/sym/sym.js';
import {
  DEFAULT_SCHEDULE,
  type PExpr,
  type TensorProgram,
  bin,
  flt,
  int,
  load,
  pvar,
  select,
  symToP,
} from '../../ir/tir/program.js';
import type { TensorDescSym } from './tensor-programs.js';

const clamp = (i: PExpr, n: Sym): PExpr => bin('min', bin('max', i, int(0)), bin('-', symToP(n), int(1)));

/**
 * x zero-padded by `padding` on each side of the height and width: [N, H + 2p, W + 2p, C]. Indices
 * are clamped before the load and the value selected away when the clamp moved them, so no backend
 * ever reads out of bounds (WGSL's `select` evaluates both sides).
 */
export function zeroPadProgram(name: string, x: TensorDescSym, padding: number): TensorProgram {
  const [n, h, w, c] = x.shape as [Sym, Sym, Sym, Sym];
  const hi = bin('-', pvar('i1'), int(padding));
  const wi = bin('-', pvar('i2'), int(padding));
  const hc = clamp(hi, h);
  const wc = clamp(wi, w);
  return {
    name,
    kind: 'injective',
    inputs: [{ name: 'x0', ...x }],
    output: { name: 'out', dtype: x.dtype, shape: [n, h.add(2 * padding), w.add(2 * padding), c] },
    body: select(
      bin('==', hc, hi),
      select(bin('==', wc, wi), load('x0', [pvar('i0'), hc, wc, pvar('i3')]), flt(0)),
      flt(0),
    ),
    schedule: DEFAULT_SCHEDULE,
  };
}

/**
 * out[n, ho, wo, o] = Σ_{c, kh, kw} x[n, ho·s + kh, wo·s + kw, g(o)·C_g + c] · w[kh, kw, c, o] over
 * the C_g = C/groups channels of o's group g(o). `x` comes already zero-padded (`zeroPadProgram`), so
 * every index is in range and a term is a multiply-add of two loads, with no clamp or select. The
 * weight `w` is [KH, KW, C_g, O] (legalize permutes PyTorch's [O, C_g, KH, KW] first): the threads
 * of a workgroup, consecutive output channels, read consecutive weights.
 */
export function conv2dProgram(
  name: string,
  x: TensorDescSym,
  w: TensorDescSym,
  stride: number,
  groups: number,
  outShape: readonly Sym[],
): TensorProgram {
  const at = (axis: string, r: string) =>
    bin('+', stride === 1 ? pvar(axis) : bin('*', pvar(axis), int(stride)), pvar(r));
  // grouped: output channel o reads the input channels of its group, ⌊o / (O/groups)⌋·(C/groups) + r0
  const [kh, kw, cg, o] = w.shape as [Sym, Sym, Sym, Sym];
  const perGroupOut = o.value! / groups;
  const channel =
    groups === 1
      ? pvar('r0')
      : bin('+', bin('*', bin('floordiv', pvar('i3'), int(perGroupOut)), symToP(cg)), pvar('r0'));
  return {
    name,
    kind: 'reduction',
    inputs: [
      { name: 'x0', ...x },
      { name: 'x1', ...w },
    ],
    output: { name: 'out', dtype: x.dtype, shape: outShape },
    body: bin(
      '*',
      load('x0', [pvar('i0'), at('i1', 'r1'), at('i2', 'r2'), channel]),
      load('x1', [pvar('r1'), pvar('r2'), pvar('r0'), pvar('i3')]),
    ),
    reduce: { op: 'sum', extents: [cg, kh, kw] },
    schedule: DEFAULT_SCHEDULE,
    reduceInThread: true,
  };
}

/** out[n, i, j, c] = x[n, ⌊i·H/Ho⌋, ⌊j·W/Wo⌋, c] in exact integer arithmetic. */
export function resizeNearestProgram(name: string, x: TensorDescSym, outShape: readonly Sym[]): TensorProgram {
  const src = (axis: string, inDim: Sym, outDim: Sym): PExpr =>
    inDim.equals(outDim) ? pvar(axis) : bin('floordiv', bin('*', pvar(axis), symToP(inDim)), symToP(outDim));
  return {
    name,
    kind: 'injective',
    inputs: [{ name: 'x0', ...x }],
    output: { name: 'out', dtype: x.dtype, shape: outShape },
    body: load('x0', [
      pvar('i0'),
      src('i1', x.shape[1]!, outShape[1]!),
      src('i2', x.shape[2]!, outShape[2]!),
      pvar('i3'),
    ]),
    schedule: DEFAULT_SCHEDULE,
  };
}
