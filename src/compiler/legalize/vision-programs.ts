/**
 * Tensor programs for the NHWC image ops (`src/ir/ops/vision.ts`): a direct convolution as a
 * reduction over (C, KH, KW) per output element, and nearest-neighbour resizing as a gather.
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
 * out[n, ho, wo, o] = Σ_{c, kh, kw} x[n, ho·s + kh − p, wo·s + kw − p, g(o)·C_g + c] · w[kh, kw, c, o]
 * with the weight `w` as [KH, KW, C_g, O] (legalize permutes PyTorch's [O, C_g, KH, KW] first, so
 * the threads of a workgroup, consecutive output channels, read consecutive weights),
 * over the C_g = C/groups channels of o's group g(o), zero outside the image. Indices are clamped before the load and the product selected away when the
 * clamp moved them, so no backend ever reads out of bounds (WGSL's `select` evaluates both sides).
 */
export function conv2dProgram(
  name: string,
  x: TensorDescSym,
  w: TensorDescSym,
  stride: number,
  padding: number,
  groups: number,
  outShape: readonly Sym[],
): TensorProgram {
  const at = (axis: string, r: string) => {
    const scaled = stride === 1 ? pvar(axis) : bin('*', pvar(axis), int(stride));
    const shifted = bin('+', scaled, pvar(r));
    return padding === 0 ? shifted : bin('-', shifted, int(padding));
  };
  const hi = at('i1', 'r1');
  const wi = at('i2', 'r2');
  const hc = clamp(hi, x.shape[1]!);
  const wc = clamp(wi, x.shape[2]!);
  // grouped: output channel o reads the input channels of its group, ⌊o / (O/groups)⌋·(C/groups) + r0
  const [kh, kw, cg, o] = w.shape as [Sym, Sym, Sym, Sym];
  const perGroupOut = o.value! / groups;
  const channel =
    groups === 1
      ? pvar('r0')
      : bin('+', bin('*', bin('floordiv', pvar('i3'), int(perGroupOut)), symToP(cg)), pvar('r0'));
  const product = bin(
    '*',
    load('x0', [pvar('i0'), hc, wc, channel]),
    load('x1', [pvar('r1'), pvar('r2'), pvar('r0'), pvar('i3')]),
  );
  const body = padding === 0 ? product : select(bin('==', hc, hi), select(bin('==', wc, wi), product, flt(0)), flt(0));
  return {
    name,
    kind: 'reduction',
    inputs: [
      { name: 'x0', ...x },
      { name: 'x1', ...w },
    ],
    output: { name: 'out', dtype: x.dtype, shape: outShape },
    body,
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
