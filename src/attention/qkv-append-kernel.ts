/**
 * `qkv_append` (qkv-append.ts) on WebGPU: the one-dispatch group GEMV of `linear_group`
 * (src/kernels/gemv-group.ts) with K and V stored at the tokens' pool slots. Only decode-sized
 * rows run it (the group GEMV's limits); a caller that gets `whyUnsupported` runs `linear_group`
 * and `append_kv` instead, which compute the same values in two dispatches.
 */
import type { TensorDesc } from '../backends/backend.js';
import { type GpuKernel, type GpuTensor, type KernelContext, shaderKey } from '../backends/webgpu/kernel.js';
import { linearGroupOp } from '../ops/linear-group.js';
import { paddedByteSize } from '../tensor/dtype.js';
import { slotQuantStoreWgsl } from './append-quant-wgsl.js';
import { type KvQuantSpec, kvQuantProblem } from './kv-quant.js';
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
    if (attrs.kvQuant) {
      // the group GEMV into K/V scratch, then the quantizing store (slotQuantStoreWgsl)
      const { kvQuant: _q, layout: _l, ...plain } = attrs;
      return kvQuantProblem(attrs.kvQuant.dtype, attrs.kvQuant.headDim) ?? groupGemvProblem(caps, plain, group);
    }
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
    if (attrs.kvQuant) {
      encodeQuantized(ctx, attrs, attrs.kvQuant, group, slots, q, out);
      return;
    }
    const g = poolGeometry(pool.shape, attrs.layout, 'qkv_append');
    encodeGroupGemv(ctx, attrs, [...group, slots, out], [q, out], {
      store: { layout: attrs.layout, pageSize: g.pageSize, numKvHeads: g.numKvHeads },
      label: 'qkv_append',
    });
  },
};

/**
 * Into a quantized pool: a row's scale needs the whole row, which the GEMV epilogue (one output
 * element per lane) does not have, so K and V go to scratch and a second dispatch quantizes each
 * (token, head) row into the token's slot — the dispatches of `linear_group` + `append_kv`, without
 * append_kv's search of the page table.
 */
function encodeQuantized(
  ctx: KernelContext,
  attrs: QkvAppendAttrs,
  spec: KvQuantSpec,
  group: GpuTensor[],
  slots: GpuTensor,
  q: GpuTensor,
  out: GpuTensor,
): void {
  const [, kDesc, vDesc] = linearGroupOp.outputs(attrs, group);
  const tokens = kDesc!.shape[0]!;
  // scratch seen as a tensor, bound as its range (as src/kernels/linear.ts does)
  const scratch = (d: TensorDesc, label: string): GpuTensor =>
    ({
      ...ctx.scratch(paddedByteSize(d.dtype, d.shape), label),
      dtype: d.dtype,
      shape: [...d.shape],
      backend: 'webgpu',
      label,
    }) as unknown as GpuTensor;
  const k = scratch(kDesc!, 'qkv_append.k');
  const v = scratch(vDesc!, 'qkv_append.v');
  const { kvQuant: _q, layout: _l, ...plain } = attrs;
  encodeGroupGemv(ctx, plain, group, [q, k, v]);
  const label = `qkv_append.store.${spec.dtype}.${kDesc!.dtype}.${attrs.layout}.d${spec.headDim}`;
  ctx.dispatch(
    {
      label,
      key: shaderKey(label, spec.pageSize, spec.numKvHeads, tokens),
      wgsl: () => slotQuantStoreWgsl(attrs.layout, spec, kDesc!.dtype, tokens),
      access: ['read', 'read', 'read', 'rw'],
    },
    [k, v, slots, out],
    null,
    grid2d(Math.ceil((tokens * spec.numKvHeads * 2) / SMALL_WG), ctx.caps.maxComputeWorkgroupsPerDimension),
  );
}
