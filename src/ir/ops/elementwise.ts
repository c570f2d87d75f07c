/** Elementwise operators: unary math, scalar scaling, casts and broadcasting binaries. */
import { UNARY_OPS } from '../../ops/expr.js';
import { DTYPES, type DType } from '../../tensor/dtype.js';
import { rankOnly } from '../types.js';
import { ShapeError, registerOp } from './registry.js';
import { broadcastShapes, tensorArg } from './shape-util.js';

export const BINARY_OPS = ['add', 'subtract', 'multiply', 'divide', 'maximum', 'minimum', 'power'] as const;
export type BinaryOpName = (typeof BINARY_OPS)[number];

// the unary graph ops, named as the shared expression language names its unary functions
for (const name of UNARY_OPS) {
  registerOp({ name, deduce: (args) => tensorArg(name, args[0], 0) });
}

registerOp({
  name: 'scale',
  deduce(args, attrs) {
    if (typeof attrs.factor !== 'number') throw new ShapeError('scale', `attr 'factor' must be a number`);
    return tensorArg('scale', args[0], 0);
  },
});

registerOp({
  name: 'cast',
  deduce(args, attrs) {
    const x = tensorArg('cast', args[0], 0);
    const dtype = attrs.dtype as DType;
    if (!DTYPES.includes(dtype)) throw new ShapeError('cast', `attr 'dtype' must be one of ${DTYPES.join(', ')}`);
    return { ...x, dtype };
  },
});

for (const name of BINARY_OPS) {
  registerOp({
    name,
    deduce(args) {
      const a = tensorArg(name, args[0], 0);
      const b = tensorArg(name, args[1], 1);
      if (a.dtype !== b.dtype) throw new ShapeError(name, `dtypes differ: ${a.dtype} vs ${b.dtype} (insert a cast)`);
      if (!a.shape || !b.shape) return rankOnly(a.dtype, Math.max(a.rank, b.rank));
      const shape = broadcastShapes(name, [a.shape, b.shape]);
      return shape
        ? { k: 'tensor', dtype: a.dtype, shape, rank: shape.length }
        : rankOnly(a.dtype, Math.max(a.rank, b.rank));
    },
  });
}
