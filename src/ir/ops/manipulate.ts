/** Shape-changing operators: reshape (with one inferred −1), permute_dims, concat, slice. */
import { Sym, divExact } from '../sym/sym.js';
import { proveEqual, proveLE } from '../sym/prove.js';
import { rankOnly } from '../types.js';
import { ShapeError, registerOp } from './registry.js';
import { normAxis, product, tensorArg } from './shape-util.js';

registerOp({
  name: 'reshape',
  deduce(args) {
    const x = tensorArg('reshape', args[0], 0);
    const s = args[1];
    if (!s || s.k !== 'shape' || !s.dims)
      throw new ShapeError('reshape', 'argument 1 must be a shape with known dimensions');
    const holes = s.dims.filter((d) => d.value === -1).length;
    if (holes > 1) throw new ShapeError('reshape', 'at most one dimension may be -1');
    if (!x.shape) {
      if (holes) return rankOnly(x.dtype, s.rank);
      return { k: 'tensor', dtype: x.dtype, shape: s.dims, rank: s.rank };
    }
    const total = product(x.shape);
    let dims = s.dims;
    if (holes) {
      const known = product(dims.filter((d) => d.value !== -1));
      const inferred = divExact(total, known);
      if (!inferred) return rankOnly(x.dtype, s.rank);
      dims = dims.map((d) => (d.value === -1 ? inferred : d));
    }
    if (!proveEqual(product(dims), total))
      throw new ShapeError('reshape', `cannot reshape ${total} elements into (${dims.join(', ')}) = ${product(dims)}`);
    return { k: 'tensor', dtype: x.dtype, shape: dims, rank: dims.length };
  },
});

registerOp({
  name: 'permute_dims',
  deduce(args, attrs) {
    const x = tensorArg('permute_dims', args[0], 0);
    const axes = attrs.axes as number[] | undefined;
    if (!Array.isArray(axes) || axes.length !== x.rank || [...axes].sort().some((a, i) => a !== i)) {
      throw new ShapeError('permute_dims', `attr 'axes' must be a permutation of 0..${x.rank - 1}`);
    }
    if (!x.shape) return x;
    const shape = axes.map((a) => x.shape![a]!);
    return { k: 'tensor', dtype: x.dtype, shape, rank: shape.length };
  },
});

registerOp({
  name: 'concat',
  deduce(args, attrs) {
    if (args.length === 0) throw new ShapeError('concat', 'needs at least one tensor');
    const ts = args.map((t, i) => tensorArg('concat', t, i));
    const rank = ts[0]!.rank;
    const dtype = ts[0]!.dtype;
    if (ts.some((t) => t.rank !== rank || t.dtype !== dtype))
      throw new ShapeError('concat', 'all tensors need the same rank and dtype');
    const axis = normAxis('concat', (attrs.axis as number | undefined) ?? 0, rank);
    if (ts.some((t) => !t.shape)) return rankOnly(dtype, rank);
    const shape: Sym[] = [];
    for (let i = 0; i < rank; i++) {
      if (i === axis) {
        shape.push(ts.reduce((a, t) => a.add(t.shape![i]!), Sym.const(0)));
        continue;
      }
      const d = ts[0]!.shape![i]!;
      for (const t of ts) {
        const e = t.shape![i]!;
        if (proveEqual(d, e)) continue;
        if (d.isConst() && e.isConst()) throw new ShapeError('concat', `axis ${i} differs: ${d} vs ${e}`);
        // unknowable: which of the two names is right only the run time knows
        return rankOnly(dtype, rank);
      }
      shape.push(d);
    }
    return { k: 'tensor', dtype, shape, rank };
  },
});

/** slice(x, shape(begin), shape(end)) along attr `axis`: begin ≤ end ≤ dim must be provable. */
registerOp({
  name: 'slice',
  deduce(args, attrs) {
    const x = tensorArg('slice', args[0], 0);
    const b = args[1];
    const e = args[2];
    if (b?.k !== 'shape' || e?.k !== 'shape' || !b.dims || !e.dims || b.rank !== 1 || e.rank !== 1) {
      throw new ShapeError('slice', 'begin and end must be one-dimensional shapes');
    }
    const axis = normAxis('slice', (attrs.axis as number | undefined) ?? 0, x.rank);
    if (!x.shape) return x;
    const begin = b.dims[0]!;
    const end = e.dims[0]!;
    if (!proveLE(begin, end) || !proveLE(end, x.shape[axis]!)) {
      throw new ShapeError('slice', `cannot prove ${begin} ≤ ${end} ≤ ${x.shape[axis]} on axis ${axis}`);
    }
    const shape = x.shape.map((d, i) => (i === axis ? end.sub(begin) : d));
    return { k: 'tensor', dtype: x.dtype, shape, rank: x.rank };
  },
});
