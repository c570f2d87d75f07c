/**
 * `qkv_append` (qkv-append.ts) on WebGPU: the one-dispatch group GEMV of `linear_group`
 * (src/kernels/gemv-group.ts) with K and V stored at the tokens' pool slots. Only decode-sized
 * rows run it (the group GEMV's limits); a caller that gets `whyUnsupported` runs `linear_group`
 * and `append_kv` instead, which compute the same values in two dispatches.
 */
import type { GpuKernel, GpuTensor } from '../backends/webgpu/kernel.js';
import { grid2d } from '../kernels/elementwise.js';
import { encodeGroupGemv, groupGemvProblem } from '../kernels/linear-group.js';
import { COPY_WGSL, SMALL_WG } from './misc-wgsl.js';
import { poolGeometry } from './kv-layout.js';
import { type QkvAppendAttrs, qkvAppendOp, qkvAppendParts } from './qkv-append.js';

export const qkvAppendKernel: GpuKernel = {
  op: 'qkv_append',
  whyUnsupported(caps, rawAttrs, inputs) {
    const attrs = rawAttrs as QkvAppendAttrs;
    try {
      qkvAppendOp.outputs(attrs, inputs);
    } catch (e) {
      return (e as Error).message;
    }
    const { group, pool } = qkvAppendParts(attrs, inputs);
    if (!['f32', 'f16', 'bf16'].includes(pool.dtype)) return 'the pool must be f32, f16 or bf16';
    const why = groupGemvProblem(caps, attrs, group);
    if (why) return why;
    // the group GEMV's bindings, with the slots in and the pool out in place of K and V's outputs
    const storage = group.length + 3;
    if (storage > caps.maxStorageBuffersPerShaderStage) return `${storage} storage bindings`;
    return null;
  },
  encode(ctx, rawAttrs, inputs, outputs) {
    const attrs = rawAttrs as QkvAppendAttrs;
    const { group, slots, pool } = qkvAppendParts(attrs, inputs as GpuTensor[]);
    const [q, out] = outputs as [GpuTensor, GpuTensor];
    if (out.buffer !== pool.buffer) {
      // out of place: the output pool starts as a copy of the input (the runner appends in place)
      const words = Math.ceil(pool.byteSize / 4);
      ctx.dispatch(
        { label: 'qkv_append.copy', wgsl: COPY_WGSL, access: ['read', 'rw', 'uniform'] },
        [pool, out],
        new Uint32Array([words]),
        grid2d(Math.ceil(words / SMALL_WG), ctx.caps.maxComputeWorkgroupsPerDimension),
      );
    }
    const g = poolGeometry(pool.shape, attrs.layout, 'qkv_append');
    encodeGroupGemv(ctx, attrs, [...group, slots, out], [q, out], {
      store: { layout: attrs.layout, pageSize: g.pageSize, numKvHeads: g.numKvHeads },
      label: 'qkv_append',
    });
  },
};
