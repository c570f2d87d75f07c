/**
 * `argmax`: one workgroup per row. Each thread scans a strided slice in increasing order (so a
 * strict `>` keeps the first of equal values), then (value, index) pairs are combined: larger
 * value wins, equal values take the smaller index. Subgroups: max of values, then min of the
 * indices holding it.
 */
import type { Attrs, TensorDesc } from '../backends/backend.js';
import type { Capabilities } from '../backends/webgpu/capabilities.js';
import { rowsAndCols } from '../ops/row-shapes.js';
import { type DType, isFloat } from '../tensor/dtype.js';
import { grid2d } from './elementwise.js';
import type { GpuKernel } from '../backends/webgpu/kernel.js';
import { ROW_INDEX, rowEnables, rowInit, rowParams, rowReduceWgsl, rowWorkgroupSize } from './row-reduce.js';
import { enables, loadF32, storageDecl, uniformDecl } from './wgsl-dtype.js';

type Caps = Pick<Capabilities, 'f16' | 'subgroups'>;

/**
 * WGSL `tess_argmax(v, i) -> u32`: the workgroup's best (value, index) pair's index, uniform.
 * Lanes with no candidate pass i = NONE (0xffffffff). Shared by the argmax and sample kernels.
 */
export function argmaxReduceWgsl(caps: Caps, wg: number): string {
  const better = `fn tess_better(v2: f32, i2: u32, v1: f32, i1: u32) -> bool {
  return i2 != 0xffffffffu && (i1 == 0xffffffffu || v2 > v1 || (v2 == v1 && i2 < i1));
}
var<workgroup> tess_am_v: array<f32, ${wg}>;
var<workgroup> tess_am_i: array<u32, ${wg}>;
var<workgroup> tess_am_out: u32;`;
  if (caps.subgroups) {
    return `${better}
fn tess_argmax(v: f32, i: u32) -> u32 {
  let m = subgroupMax(select(tess_ninf(), v, i != 0xffffffffu));
  let bi = subgroupMin(select(0xffffffffu, i, i != 0xffffffffu && v == m));
  if (tess_lane == 0u) { tess_am_v[tess_lid / tess_sgs] = m; tess_am_i[tess_lid / tess_sgs] = bi; }
  workgroupBarrier();
  if (tess_lid == 0u) {
    var bv = tess_ninf();
    var bx = 0xffffffffu;
    let n = (${wg}u + tess_sgs - 1u) / tess_sgs;
    for (var k = 0u; k < n; k++) { if (tess_better(tess_am_v[k], tess_am_i[k], bv, bx)) { bv = tess_am_v[k]; bx = tess_am_i[k]; } }
    tess_am_out = bx;
  }
  return workgroupUniformLoad(&tess_am_out);
}`;
  }
  return `${better}
fn tess_argmax(v: f32, i: u32) -> u32 {
  tess_am_v[tess_lid] = v;
  tess_am_i[tess_lid] = i;
  workgroupBarrier();
  for (var s = ${wg / 2}u; s > 0u; s >>= 1u) {
    if (tess_lid < s && tess_better(tess_am_v[tess_lid + s], tess_am_i[tess_lid + s], tess_am_v[tess_lid], tess_am_i[tess_lid])) {
      tess_am_v[tess_lid] = tess_am_v[tess_lid + s];
      tess_am_i[tess_lid] = tess_am_i[tess_lid + s];
    }
    workgroupBarrier();
  }
  if (tess_lid == 0u) { tess_am_out = tess_am_i[0]; }
  return workgroupUniformLoad(&tess_am_out);
}`;
}

export function argmaxWgsl(dtype: DType, wg: number, caps: Caps): string {
  return `${enables([dtype], caps)}${rowEnables(caps)}
${storageDecl(0, 'x', dtype, caps, 'read')}
${storageDecl(1, 'y', 'i32', caps, 'read_write')}
${uniformDecl(2, 2)}
${rowReduceWgsl(caps, wg)}
${argmaxReduceWgsl(caps, wg)}
@compute @workgroup_size(${wg})
fn main(${rowParams(caps)}) {
  ${rowInit(caps)}
  ${ROW_INDEX}
  var bv = tess_ninf();
  var bi = 0xffffffffu;
  for (var c = lid; c < cols; c += ${wg}u) {
    let v = ${loadF32(dtype, caps, 'x', 'base + c')};
    // the first non-NaN value, then strictly larger ones (NaN compares false)
    if (v > bv || (bi == 0xffffffffu && v == v)) { bv = v; bi = c; }
  }
  let best = tess_argmax(bv, bi);
  if (lid == 0u) { y[row] = i32(select(best, 0u, best == 0xffffffffu)); }
}`;
}

export const argmaxKernel: GpuKernel = {
  op: 'argmax',
  whyUnsupported(_caps: Capabilities, _attrs: Attrs, inputs: readonly TensorDesc[]) {
    return inputs[0] && isFloat(inputs[0].dtype) ? null : 'input must be a float type';
  },
  encode(ctx, _attrs, [x], [y]) {
    const { rows, cols } = rowsAndCols(x!.shape);
    const wg = rowWorkgroupSize(cols);
    ctx.dispatch(
      {
        label: `argmax.${x!.dtype}.wg${wg}`,
        key: `argmax.${x!.dtype}.wg${wg}`,
        wgsl: () => argmaxWgsl(x!.dtype, wg, ctx.caps),
        access: ['read', 'rw', 'uniform'],
      },
      [x!, y!],
      new Uint32Array([rows, cols]),
      grid2d(rows, ctx.caps.maxComputeWorkgroupsPerDimension),
    );
  },
};
