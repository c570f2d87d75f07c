/**
 * Classifies tensor programs the way FuseOps needs: `elementwise` when every load reads its
 * buffer at the output position (NumPy-broadcast), `injective` for any other gather-free index
 * map, `reduction` when it folds over extra axes. Fusion re-labels programs it builds with this.
 */
import { proveEqual } from '../../ir/sym/prove.js';
import { type PExpr, type ProgramKind, type TensorProgram, visitExpr } from '../../ir/tir/program.js';
import { broadcastIndex } from '../legalize/tensor-programs.js';

const sameIdx = (a: readonly PExpr[], b: readonly PExpr[]) =>
  a.length === b.length &&
  a.every((x, i) => {
    const y = b[i]!;
    return (x.k === 'var' && y.k === 'var' && x.name === y.name) || (x.k === 'int' && y.k === 'int' && x.v === y.v);
  });

/** Whether `load(buf, idx)` reads `buf` (of `shape`) exactly as NumPy broadcasting to the output would. */
export function isBroadcastLoad(
  idx: readonly PExpr[],
  shape: TensorProgram['output']['shape'],
  out: TensorProgram['output']['shape'],
): boolean {
  if (shape.length > out.length) return false;
  const off = out.length - shape.length;
  if (!shape.every((d, k) => d.value === 1 || proveEqual(d, out[off + k]!))) return false;
  return sameIdx(idx, broadcastIndex(shape, out));
}

export function classify(p: TensorProgram): ProgramKind {
  if (p.reduce) return 'reduction';
  const shapes = new Map(p.inputs.map((b) => [b.name, b.shape]));
  let elementwise = true;
  visitExpr(p.body, (e) => {
    if (e.k === 'load' && !isBroadcastLoad(e.idx, shapes.get(e.buf) ?? [], p.output.shape)) elementwise = false;
  });
  return elementwise ? 'elementwise' : 'injective';
}
