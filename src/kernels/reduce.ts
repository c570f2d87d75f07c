/**
 * `reduce` (sum | max over the last axis): one workgroup per row, each thread folds a strided
 * slice in f32, then one workgroup reduction (subgroup ops when present). Packed 16-bit outputs
 * hold two rows per word, so they are written with the partial-word store of `row-reduce.ts`.
 */
import type { Attrs, TensorDesc } from '../backends/backend.js';
import type { Capabilities } from '../backends/webgpu/capabilities.js';
import type { ReduceAttrs, ReduceKind } from '../ops/reduce.js';
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

export function reduceWgsl(kind: ReduceKind, dtype: DType, wg: number, caps: Caps): string {
  const init = kind === 'sum' ? '0.0' : 'tess_ninf()';
  const fold = kind === 'sum' ? 'acc + v' : 'max(acc, v)';
  return `${enables([dtype], caps)}${rowEnables(caps)}
${storageDecl(0, 'x', dtype, caps, 'read')}
${rowOutDecl(1, 'y', dtype, caps, rowsStraddleWords(dtype, caps, 1))}
${uniformDecl(2, 2)}
${PACK_WGSL}
${rowReduceWgsl(caps, wg)}
@compute @workgroup_size(${wg})
fn main(${rowParams(caps)}) {
  ${rowInit(caps)}
  ${ROW_INDEX}
  var acc = ${init};
  for (var c = lid; c < cols; c += ${wg}u) { let v = ${loadF32(dtype, caps, 'x', 'base + c')}; acc = ${fold}; }
  let total = tess_${kind}(acc);
  ${rowStoreLoop(dtype, caps, rowsStraddleWords(dtype, caps, 1), 'y', 'row', '1u', () => 'total', wg)}
}`;
}

export const reduceKernel: GpuKernel = {
  op: 'reduce',
  whyUnsupported(_caps: Capabilities, _attrs: Attrs, inputs: readonly TensorDesc[]) {
    return inputs[0] && isFloat(inputs[0].dtype) ? null : 'input must be a float type';
  },
  encode(ctx, rawAttrs, [x], [y]) {
    const attrs = rawAttrs as ReduceAttrs;
    const { rows, cols } = rowsAndCols(x!.shape);
    const wg = rowWorkgroupSize(cols);
    const wgsl = reduceWgsl(attrs.op, x!.dtype, wg, ctx.caps);
    ctx.dispatch(
      { label: `reduce.${attrs.op}.${x!.dtype}.wg${wg}`, wgsl, access: ['read', 'rw', 'uniform'] },
      [x!, y!],
      new Uint32Array([rows, cols]),
      grid2d(rows, ctx.caps.maxComputeWorkgroupsPerDimension),
    );
  },
};
