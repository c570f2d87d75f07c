/** `matmul`: a [..., M, K] × b [K, N] (or [N, K] with transB), batch dimensions broadcast. */
import type { DType } from '../../tensor/dtype.js';
import { rankOnly } from '../types.js';
import { ShapeError, registerOp } from './registry.js';
import { broadcastShapes, tensorArg, unifyDim } from './shape-util.js';

registerOp({
  name: 'matmul',
  deduce(args, attrs) {
    const a = tensorArg('matmul', args[0], 0);
    const b = tensorArg('matmul', args[1], 1);
    const dtype = (attrs.outDtype as DType | undefined) ?? a.dtype;
    if (a.rank < 2 || b.rank < 2) throw new ShapeError('matmul', `operands need rank ≥ 2, got ${a.rank} and ${b.rank}`);
    const rank = Math.max(a.rank, b.rank);
    if (!a.shape || !b.shape) return rankOnly(dtype, rank);
    const transB = attrs.transB === true;
    const m = a.shape[a.rank - 2]!;
    const ka = a.shape[a.rank - 1]!;
    const [b0, b1] = b.shape.slice(-2);
    const kb = transB ? b1! : b0!;
    const nn = transB ? b0! : b1!;
    const k = unifyDim('matmul', ka, kb, 'reduction dimensions differ');
    if (!k) return rankOnly(dtype, rank);
    const batch = broadcastShapes('matmul', [a.shape.slice(0, -2), b.shape.slice(0, -2)]);
    if (!batch) return rankOnly(dtype, rank);
    const shape = [...batch, m, nn];
    return { k: 'tensor', dtype, shape, rank: shape.length };
  },
});
