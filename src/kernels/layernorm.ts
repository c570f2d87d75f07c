/**
 * `layernorm`: one workgroup per row; the mean, then the variance as a second pass over
 * (x − mean) (no E[x²] − mean² cancellation), then y = (x − mean) · rsqrt(var + eps) · w + b.
 */
import type { Attrs, TensorDesc } from '../backends/backend.js';
import type { Capabilities } from '../backends/webgpu/capabilities.js';
import type { NormAttrs } from '../ops/rmsnorm.js';
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

export function layernormWgsl(
  dtype: DType,
  wDtype: DType,
  bDtype: DType,
  cols: number,
  wg: number,
  caps: Caps,
): string {
  const straddle = rowsStraddleWords(dtype, caps, cols);
  const x = (i: string) => loadF32(dtype, caps, 'x', i);
  const value = (c: string) =>
    `(${x(`base + ${c}`)} - mean) * r * ${loadF32(wDtype, caps, 'w', c)} + ${loadF32(bDtype, caps, 'b', c)}`;
  return `${enables([dtype, wDtype, bDtype], caps)}${rowEnables(caps)}
${storageDecl(0, 'x', dtype, caps, 'read')}
${storageDecl(1, 'w', wDtype, caps, 'read')}
${storageDecl(2, 'b', bDtype, caps, 'read')}
${rowOutDecl(3, 'y', dtype, caps, straddle)}
${uniformDecl(4, 3)}
${PACK_WGSL}
${rowReduceWgsl(caps, wg)}
@compute @workgroup_size(${wg})
fn main(${rowParams(caps)}) {
  ${rowInit(caps)}
  ${ROW_INDEX}
  var s = 0.0;
  for (var c = lid; c < cols; c += ${wg}u) { s += ${x('base + c')}; }
  let mean = tess_sum(s) / f32(cols);
  var q = 0.0;
  for (var c = lid; c < cols; c += ${wg}u) { let d = ${x('base + c')} - mean; q += d * d; }
  let r = inverseSqrt(tess_sum(q) / f32(cols) + uf(2u));
  ${rowStoreLoop(dtype, caps, straddle, 'y', 'base', 'cols', value, wg)}
}`;
}

export const layernormKernel: GpuKernel = {
  op: 'layernorm',
  whyUnsupported(_caps: Capabilities, _attrs: Attrs, inputs: readonly TensorDesc[]) {
    return inputs.length === 3 && inputs.every((t) => isFloat(t.dtype)) ? null : 'inputs must be float types';
  },
  encode(ctx, rawAttrs, [x, w, b], [y]) {
    const { rows, cols } = rowsAndCols(x!.shape);
    const wg = rowWorkgroupSize(cols);
    const wgsl = layernormWgsl(x!.dtype, w!.dtype, b!.dtype, cols, wg, ctx.caps);
    const u = new Uint32Array([rows, cols, 0]);
    new Float32Array(u.buffer, 8, 1)[0] = (rawAttrs as NormAttrs).eps;
    ctx.dispatch(
      {
        label: `layernorm.${x!.dtype}.${w!.dtype}.${b!.dtype}.wg${wg}`,
        wgsl,
        access: ['read', 'read', 'read', 'rw', 'uniform'],
      },
      [x!, w!, b!, y!],
      u,
      grid2d(rows, ctx.caps.maxComputeWorkgroupsPerDimension),
    );
  },
};
