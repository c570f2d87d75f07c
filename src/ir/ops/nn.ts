/** Neural-network operators that lower to library kernels: norms, softmax, RoPE, attention, embedding, argmax, arange. */
import type { DType } from '../../tensor/dtype.js';
import { Sym } from '../sym/sym.js';
import { rankOnly, type TensorType } from '../types.js';
import { ShapeError, registerOp } from './registry.js';
import { tensorArg, unifyDim } from './shape-util.js';

function lastDimMatches(op: string, x: TensorType, w: TensorType, what: string): void {
  if (w.rank !== 1) throw new ShapeError(op, `${what} must be one-dimensional, got rank ${w.rank}`);
  if (x.shape && w.shape) unifyDim(op, x.shape[x.rank - 1]!, w.shape[0]!, `${what} length differs from the last axis`);
}

registerOp({ name: 'softmax', deduce: (args) => tensorArg('softmax', args[0], 0) });

registerOp({
  name: 'rms_norm',
  deduce(args) {
    const x = tensorArg('rms_norm', args[0], 0);
    lastDimMatches('rms_norm', x, tensorArg('rms_norm', args[1], 1), 'weight');
    return x;
  },
});

registerOp({
  name: 'layer_norm',
  deduce(args) {
    const x = tensorArg('layer_norm', args[0], 0);
    lastDimMatches('layer_norm', x, tensorArg('layer_norm', args[1], 1), 'weight');
    lastDimMatches('layer_norm', x, tensorArg('layer_norm', args[2], 2), 'bias');
    return x;
  },
});

registerOp({
  name: 'rope',
  deduce(args) {
    const x = tensorArg('rope', args[0], 0);
    const pos = tensorArg('rope', args[1], 1);
    if (x.rank !== 3) throw new ShapeError('rope', `x must be [T, H, D], got rank ${x.rank}`);
    if (pos.rank !== 1 || pos.dtype !== 'i32') throw new ShapeError('rope', 'positions must be i32 [T]');
    if (x.shape && pos.shape) unifyDim('rope', x.shape[0]!, pos.shape[0]!, 'positions length differs from T');
    return x;
  },
});

registerOp({
  name: 'attention',
  deduce(args) {
    const [q, k, v] = [0, 1, 2].map((i) => tensorArg('attention', args[i], i)) as [TensorType, TensorType, TensorType];
    for (const t of [q, k, v])
      if (t.rank !== 3) throw new ShapeError('attention', `q, k, v must be [T, H, D], got rank ${t.rank}`);
    if (!q.shape || !k.shape || !v.shape) return rankOnly(q.dtype, 3);
    unifyDim('attention', k.shape[0]!, v.shape[0]!, 'k and v lengths differ');
    unifyDim('attention', k.shape[1]!, v.shape[1]!, 'k and v head counts differ');
    unifyDim('attention', q.shape[2]!, k.shape[2]!, 'q and k head sizes differ');
    const hq = q.shape[1]!.value;
    const hk = k.shape[1]!.value;
    if (hq !== undefined && hk !== undefined && hq % hk !== 0)
      throw new ShapeError('attention', `query heads ${hq} are not a multiple of KV heads ${hk}`);
    return { k: 'tensor', dtype: q.dtype, shape: [q.shape[0]!, q.shape[1]!, v.shape[2]!], rank: 3 };
  },
});

registerOp({
  name: 'embedding',
  deduce(args, attrs) {
    const table = tensorArg('embedding', args[0], 0);
    const ids = tensorArg('embedding', args[1], 1);
    if (table.rank !== 2 || ids.rank !== 1 || ids.dtype !== 'i32')
      throw new ShapeError('embedding', 'needs table [V, D] and i32 ids [T]');
    const dtype = (attrs.outDtype as DType | undefined) ?? table.dtype;
    if (!table.shape || !ids.shape) return rankOnly(dtype, 2);
    return { k: 'tensor', dtype, shape: [ids.shape[0]!, table.shape[1]!], rank: 2 };
  },
});

registerOp({
  name: 'argmax',
  deduce(args) {
    const x = tensorArg('argmax', args[0], 0);
    if (x.rank !== 2) throw new ShapeError('argmax', `x must be [R, C], got rank ${x.rank}`);
    return x.shape ? { k: 'tensor', dtype: 'i32', shape: [x.shape[0]!], rank: 1 } : rankOnly('i32', 1);
  },
});

/** arange(shape(n)) → i32 [n] holding 0…n−1 (positions for RoPE); a host computation. */
registerOp({
  name: 'arange',
  deduce(args) {
    const s = args[0];
    if (s?.k !== 'shape' || s.rank !== 1 || !s.dims)
      throw new ShapeError('arange', 'argument must be a one-dimensional shape');
    return { k: 'tensor', dtype: 'i32', shape: [s.dims[0] ?? Sym.const(0)], rank: 1 };
  },
});
