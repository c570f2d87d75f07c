/**
 * `quant_matmul` (ops.ts) on the CPU backend: W's stored bytes are dequantized to f32 scratch in
 * the kernel memory, then multiplied by the backend's f32 GEMV/GEMM (`productNT`). The ggml formats
 * decode with src/io's dequantizer, whose results are exact in f32 and match ggml bit for bit
 * (test/io/gguf-blocks.test.ts checks it against ggml's own output); w8/w4 decode here in f32 with
 * one rounding, scale · (q − zero), as the WGSL decoder does. So each weight is rounded at most
 * once and the products sum in f32: the op's check (the f32 summation bound) applies unchanged.
 */
import type { CpuKernel } from '../backends/cpu/cpu-kernel-registry.js';
import { productNT } from '../backends/cpu/cpu-matmul.js';
import type { OpImpl } from '../backends/cpu/cpu-op-context.js';
import { dequantizeToF32, f16ToF32Table } from '../io/gguf-dequantize.js';
import { ggmlTypeOf } from './codec.js';
import { WEIGHT_ONLY_GROUP, isWeightOnly, scalePlaneOffset, weightBytes } from './formats.js';
import { quantMatmulGeometry } from './ops.js';

/** w8/w4 codes → f32: one rounding of scale · (q − zero) (q − zero is exact: an integer minus an f16). */
function dequantizeWeightOnlyF32(format: 'w8' | 'w4', bytes: Uint8Array, n: number, k: number, dst: Float32Array) {
  const half = f16ToF32Table();
  const plane = scalePlaneOffset(format, n, k);
  const groups = k / WEIGHT_ONLY_GROUP;
  for (let r = 0; r < n; r++)
    for (let g = 0; g < groups; g++) {
      const s = plane + 4 * (r * groups + g);
      const scale = half[bytes[s]! | (bytes[s + 1]! << 8)]!;
      const zero = half[bytes[s + 2]! | (bytes[s + 3]! << 8)]!;
      const e0 = r * k + g * WEIGHT_ONLY_GROUP;
      for (let e = e0; e < e0 + WEIGHT_ONLY_GROUP; e++) {
        const q = format === 'w8' ? bytes[e]! : (bytes[e >> 1]! >> (4 * (e & 1))) & 15;
        dst[e] = scale * (q - zero);
      }
    }
}

const run: OpImpl = (ctx, attrs, [x, w], [y]) => {
  const { m, n, k, format } = quantMatmulGeometry(attrs, [x!, w!]);
  const wf = ctx.scratch(n * k);
  // views after the scratch is made, so no memory growth detaches them
  const bytes = new Uint8Array(ctx.heap.bytes(), ctx.addr(w!), weightBytes(format, n, k));
  const dst = ctx.heap.f32(wf, n * k);
  if (isWeightOnly(format)) dequantizeWeightOnlyF32(format, bytes, n, k, dst);
  else dequantizeToF32(ggmlTypeOf(format)!, bytes, dst);
  productNT(ctx, ctx.addr(x!), wf, 'f32', ctx.addr(y!), m, n, k);
};

export const quantMatmulCpuKernel: CpuKernel = { op: 'quant_matmul', run };
