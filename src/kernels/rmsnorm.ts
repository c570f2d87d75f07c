/** `rmsnorm`: one workgroup per row; Σx² by a workgroup reduction, then y = x · rsqrt(mean + eps) · w. */
import type { Attrs, TensorDesc } from '../backends/backend.js';
import type { Capabilities } from '../backends/webgpu/capabilities.js';
import type { NormAttrs } from '../ops/rmsnorm.js';
import { rowsAndCols } from '../ops/row-shapes.js';
import { type DType, isFloat } from '../tensor/dtype.js';
import { grid2d } from './elementwise.js';
import { type GpuKernel, shaderKey } from '../backends/webgpu/kernel.js';
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

/** `outDtype` other than x's serves fused callers that keep the normalised rows in f32. */
export function rmsnormWgsl(
  dtype: DType,
  wDtype: DType,
  cols: number,
  wg: number,
  caps: Caps,
  outDtype = dtype,
): string {
  const straddle = rowsStraddleWords(outDtype, caps, cols);
  const x = (i: string) => loadF32(dtype, caps, 'x', i);
  return `${enables([dtype, wDtype, outDtype], caps)}${rowEnables(caps)}
${storageDecl(0, 'x', dtype, caps, 'read')}
${storageDecl(1, 'w', wDtype, caps, 'read')}
${rowOutDecl(2, 'y', outDtype, caps, straddle)}
${uniformDecl(3, 3)}
${PACK_WGSL}
${rowReduceWgsl(caps, wg)}
@compute @workgroup_size(${wg})
fn main(${rowParams(caps)}) {
  ${rowInit(caps)}
  ${ROW_INDEX}
  var ss = 0.0;
  for (var c = lid; c < cols; c += ${wg}u) { let v = ${x('base + c')}; ss += v * v; }
  let r = inverseSqrt(tess_sum(ss) / f32(cols) + uf(2u));
  ${rowStoreLoop(outDtype, caps, straddle, 'y', 'base', 'cols', (c) => `${x(`base + ${c}`)} * r * ${loadF32(wDtype, caps, 'w', c)}`, wg)}
}`;
}

export const rmsnormKernel: GpuKernel = {
  op: 'rmsnorm',
  whyUnsupported(_caps: Capabilities, _attrs: Attrs, inputs: readonly TensorDesc[]) {
    return inputs.length === 2 && inputs.every((t) => isFloat(t.dtype)) ? null : 'inputs must be float types';
  },
  encode(ctx, rawAttrs, [x, w], [y]) {
    const { rows, cols } = rowsAndCols(x!.shape);
    const wg = rowWorkgroupSize(cols);
    const label = `rmsnorm.${x!.dtype}.${w!.dtype}${y!.dtype === x!.dtype ? '' : `.${y!.dtype}`}.wg${wg}`;
    const u = new Uint32Array([rows, cols, 0]);
    new Float32Array(u.buffer, 8, 1)[0] = (rawAttrs as NormAttrs).eps;
    ctx.dispatch(
      {
        label,
        key: shaderKey(label, cols),
        wgsl: () => rmsnormWgsl(x!.dtype, w!.dtype, cols, wg, ctx.caps, y!.dtype),
        access: ['read', 'read', 'rw', 'uniform'],
      },
      [x!, w!, y!],
      u,
      grid2d(rows, ctx.caps.maxComputeWorkgroupsPerDimension),
    );
  },
};
