/**
 * `embedding` gather: each invocation writes one stored output word (two elements for packed
 * 16-bit outputs, which may span two token rows when D is odd), reading the table by the row's id.
 * An id outside [0, V) yields NaN (see `ops/embedding.ts` for why not a clamp).
 */
import type { Attrs, TensorDesc } from '../backends/backend.js';
import type { Capabilities } from '../backends/webgpu/capabilities.js';
import type { EmbeddingAttrs } from '../ops/embedding.js';
import { type DType, isFloat } from '../tensor/dtype.js';
import { grid2d } from './elementwise.js';
import type { GpuKernel } from '../backends/webgpu/kernel.js';
import { PACK_WGSL, elemsPerWord, enables, loadF32, storageDecl, storeWord, uniformDecl } from './wgsl-dtype.js';

const WG = 256;

export function embeddingWgsl(tableDtype: DType, outDtype: DType, caps: Pick<Capabilities, 'f16'>): string {
  const per = elemsPerWord(outDtype, caps);
  const lanes = Array.from({ length: per }, (_, j) => `v${j}`);
  return `${enables([tableDtype, outDtype], caps)}
${storageDecl(0, 'table', tableDtype, caps, 'read')}
${storageDecl(1, 'ids', 'i32', caps, 'read')}
${storageDecl(2, 'y', outDtype, caps, 'read_write')}
${uniformDecl(3, 4)}
${PACK_WGSL}
// NaN as a runtime value (WGSL rejects NaN in constant expressions)
var<private> nan_bits: u32 = 0x7fc00000u;
fn gather(e: u32) -> f32 {
  let D = uw(1u);
  let t = e / D;
  let id = ids[t];
  if (id < 0 || u32(id) >= uw(0u)) { return bitcast<f32>(nan_bits); }
  return ${loadF32(tableDtype, caps, 'table', 'u32(id) * D + (e - t * D)')};
}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let word = gid.x + gid.y * nwg.x * ${WG}u;
  if (word >= uw(3u)) { return; }
  let total = uw(2u);
  ${lanes.map((v, j) => `var ${v} = 0.0; if (word * ${per}u + ${j}u < total) { ${v} = gather(word * ${per}u + ${j}u); }`).join('\n  ')}
  ${storeWord(outDtype, caps, 'y', 'word', lanes)}
}`;
}

export const embeddingKernel: GpuKernel = {
  op: 'embedding',
  whyUnsupported(_caps: Capabilities, attrs: Attrs, inputs: readonly TensorDesc[]) {
    const out = (attrs as EmbeddingAttrs).outDtype ?? inputs[0]?.dtype;
    return inputs[0] && isFloat(inputs[0].dtype) && out && isFloat(out) && inputs[1]?.dtype === 'i32'
      ? null
      : 'needs a float table, i32 ids and a float output';
  },
  encode(ctx, _attrs, [table, ids], [y]) {
    const [V, D] = table!.shape as [number, number];
    const total = ids!.shape[0]! * D;
    const words = Math.ceil(total / elemsPerWord(y!.dtype, ctx.caps));
    const label = `embedding.${table!.dtype}.${y!.dtype}`;
    ctx.dispatch(
      {
        label,
        key: label,
        wgsl: () => embeddingWgsl(table!.dtype, y!.dtype, ctx.caps),
        access: ['read', 'read', 'rw', 'uniform'],
      },
      [table!, ids!, y!],
      new Uint32Array([V, D, total, words]),
      grid2d(Math.ceil(words / WG), ctx.caps.maxComputeWorkgroupsPerDimension),
    );
  },
};
