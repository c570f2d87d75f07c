/**
 * Image operators on NHWC tensors ([N, H, W, C], channels last): `conv2d` and `resize_nearest`.
 *
 * Channels last because the pixels of a feature map are then the rows of a [H·W, C] matrix: a 1×1
 * projection is the library GEMM, attention takes the tokens as they are, a per-channel bias or
 * layer norm runs along the last axis, and a channel concat is a concat on the last axis — no
 * transposes anywhere in a vision network. Convolution weights stay in PyTorch's [O, C, KH, KW]
 * layout so checkpoints load without a transpose.
 */
import type { Sym } from '../sym/sym.js';
import { rankOnly } from '../types.js';
import { ShapeError, registerOp } from './registry.js';
import { tensorArg, unifyDim } from './shape-util.js';

/** Output extent of a convolution along one axis: ⌊(n + 2p − k) / s⌋ + 1. */
export function convOutDim(n: Sym, k: number, stride: number, padding: number): Sym {
  return n
    .add(2 * padding - k)
    .floorDiv(stride)
    .add(1);
}

function positiveInt(op: string, attrs: Record<string, unknown>, key: string, min: number, fallback: number): number {
  const v = attrs[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min)
    throw new ShapeError(op, `attr '${key}' must be an integer ≥ ${min}, got ${String(v)}`);
  return v;
}

/**
 * conv2d(x [N, H, W, C], w [O, C/groups, KH, KW]) → [N, Ho, Wo, O]; attrs `stride` (≥ 1), `padding`
 * (≥ 0, zeros), `groups` (≥ 1, dividing C and O: output channel o reads input group ⌊o·groups/O⌋;
 * groups = C = O is a depthwise convolution).
 */
registerOp({
  name: 'conv2d',
  deduce(args, attrs) {
    const x = tensorArg('conv2d', args[0], 0);
    const w = tensorArg('conv2d', args[1], 1);
    const stride = positiveInt('conv2d', attrs, 'stride', 1, 1);
    const padding = positiveInt('conv2d', attrs, 'padding', 0, 0);
    const groups = positiveInt('conv2d', attrs, 'groups', 1, 1);
    if (x.rank !== 4) throw new ShapeError('conv2d', `x must be NHWC [N, H, W, C], got rank ${x.rank}`);
    if (w.rank !== 4) throw new ShapeError('conv2d', `w must be [O, C/groups, KH, KW], got rank ${w.rank}`);
    if (x.dtype !== w.dtype) throw new ShapeError('conv2d', `dtypes differ: ${x.dtype} vs ${w.dtype}`);
    if (!x.shape || !w.shape) return rankOnly(x.dtype, 4);
    const [kh, kw] = [w.shape[2]!.value, w.shape[3]!.value];
    if (kh === undefined || kw === undefined)
      throw new ShapeError('conv2d', 'kernel height and width must be constants');
    const o = w.shape[0]!.value;
    if (o === undefined || o % groups !== 0)
      throw new ShapeError(
        'conv2d',
        `output channels (${w.shape[0]}) must be a constant multiple of groups (${groups})`,
      );
    const inChannels = w.shape[1]!.mul(groups);
    if (!unifyDim('conv2d', x.shape[3]!, inChannels, 'input channels differ from the weight'))
      return rankOnly(x.dtype, 4);
    const shape = [
      x.shape[0]!,
      convOutDim(x.shape[1]!, kh, stride, padding),
      convOutDim(x.shape[2]!, kw, stride, padding),
      w.shape[0]!,
    ];
    return { k: 'tensor', dtype: x.dtype, shape, rank: 4 };
  },
});

/**
 * resize_nearest(x [N, H, W, C], shape(Ho, Wo)) → [N, Ho, Wo, C], out[i, j] = x[⌊i·H/Ho⌋, ⌊j·W/Wo⌋]
 * in exact integers (for Ho = 2H it is nearest ×2 upsampling). The target size is symbolic, so a
 * decoder can upsample to its skip connection's size whatever the image size.
 */
registerOp({
  name: 'resize_nearest',
  deduce(args) {
    const x = tensorArg('resize_nearest', args[0], 0);
    const s = args[1];
    if (s?.k !== 'shape' || s.rank !== 2 || !s.dims)
      throw new ShapeError('resize_nearest', 'argument 1 must be a two-dimensional shape (height, width)');
    if (x.rank !== 4) throw new ShapeError('resize_nearest', `x must be NHWC [N, H, W, C], got rank ${x.rank}`);
    if (!x.shape) return rankOnly(x.dtype, 4);
    const shape = [x.shape[0]!, s.dims[0]!, s.dims[1]!, x.shape[3]!];
    return { k: 'tensor', dtype: x.dtype, shape, rank: 4 };
  },
});
