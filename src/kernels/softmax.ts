/**
 * `softmax` over the last axis: one workgroup per row, three strided passes (max, Σexp, write)
 * that re-read the row from cache rather than holding it, so rows of any length work.
 */
import type { Attrs, TensorDesc } from '../backends/backend.js';
import type { Capabilities } from '../backends/webgpu/capabilities.js';
import { rowsAndCols } from '../ops/row-shapes.js';
import { type DType, isFloat } from '../tensor/dtype.js';
import { grid2d } from './elementwise.js';
import type { GpuKernel } from '../backends/webgpu/kernel.js';
import {
  ROW_INDEX,
  rowEnables,
  rowInit,
  rowOutDecl,
  rowParams,
  rowReduceWgsl,
  rowStoreLoop,
  rowWorkgroupSize,
  rowsStraddleWords,
} from './row-reduce.js';
import { PACK_WGSL, enables, loadF32, storageDecl, uniformDecl } from './wgsl-dtype.js';

type Caps = Pick<Capabilities, 'f16' | 'subgroups'>;

export function softmaxWgsl(dtype: DType, cols: number, wg: number, caps: Caps): string {
  const straddle = rowsStraddleWords(dtype, caps, cols);
  const x = (i: string) => loadF32(dtype, caps, 'x', i);
  return `${enables([dtype], caps)}${rowEnables(caps)}
${storageDecl(0, 'x', dtype, caps, 'read')}
${rowOutDecl(1, 'y', dtype, caps, straddle)}
${uniformDecl(2, 2)}
${PACK_WGSL}
${rowReduceWgsl(caps, wg)}
@compute @workgroup_size(${wg})
fn main(${rowParams(caps)}) {
  ${rowInit(caps)}
  ${ROW_INDEX}
  var m = tess_ninf();
  for (var c = lid; c < cols; c += ${wg}u) { m = max(m, ${x('base + c')}); }
  let mx = tess_max(m);
  var s = 0.0;
  for (var c = lid; c < cols; c += ${wg}u) { s += exp(${x('base + c')} - mx); }
  let inv = 1.0 / tess_sum(s);
  ${rowStoreLoop(dtype, caps, straddle, 'y', 'base', 'cols', (c) => `exp(${x(`base + ${c}`)} - mx) * inv`, wg)}
}`;
}

export const softmaxKernel: GpuKernel = {
  op: 'softmax',
  whyUnsupported(_caps: Capabilities, _attrs: Attrs, inputs: readonly TensorDesc[]) {
    return inputs[0] && isFloat(inputs[0].dtype) ? null : 'input must be a float type';
  },
  encode(ctx, _attrs, [x], [y]) {
    const { rows, cols } = rowsAndCols(x!.shape);
    const wg = rowWorkgroupSize(cols);
    const wgsl = softmaxWgsl(x!.dtype, cols, wg, ctx.caps);
    ctx.dispatch(
      { label: `softmax.${x!.dtype}.wg${wg}`, wgsl, access: ['read', 'rw', 'uniform'] },
      [x!, y!],
      new Uint32Array([rows, cols]),
      grid2d(rows, ctx.caps.maxComputeWorkgroupsPerDimension),
    );
  },
};
