/** Reductions over listed axes (`sum`, `mean`, `max`), with or without kept dimensions. */
import { Sym } from '../sym/sym.js';
import { rankOnly } from '../types.js';
import { ShapeError, registerOp } from './registry.js';
import { normAxis, tensorArg } from './shape-util.js';

export const REDUCE_OPS = ['sum', 'mean', 'max'] as const;

export function reducedAxes(op: string, axes: unknown, rank: number): number[] {
  if (axes === undefined) return Array.from({ length: rank }, (_, i) => i);
  if (!Array.isArray(axes) || axes.length === 0) throw new ShapeError(op, `attr 'axes' must be a non-empty list`);
  const out = [...new Set(axes.map((a) => normAxis(op, a as number, rank)))].sort((a, b) => a - b);
  if (out.length !== axes.length) throw new ShapeError(op, `attr 'axes' repeats an axis`);
  return out;
}

for (const name of REDUCE_OPS) {
  registerOp({
    name,
    deduce(args, attrs) {
      const x = tensorArg(name, args[0], 0);
      const axes = reducedAxes(name, attrs.axes, x.rank);
      const keep = attrs.keepdims === true;
      const rank = keep ? x.rank : x.rank - axes.length;
      if (!x.shape) return rankOnly(x.dtype, rank);
      const shape: Sym[] = [];
      x.shape.forEach((d, i) => {
        if (!axes.includes(i)) shape.push(d);
        else if (keep) shape.push(Sym.const(1));
      });
      return { k: 'tensor', dtype: x.dtype, shape, rank };
    },
  });
}
