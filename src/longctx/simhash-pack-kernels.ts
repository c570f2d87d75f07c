/**
 * `simhash_pack`'s kernels: WebGPU (a thread per output word, a 2-D grid past the per-dimension
 * limit) and CPU (a host loop over the projections: one compare per element, off the decode path).
 */
import type { Tensor } from '../backends/backend.js';
import type { CpuKernel } from '../backends/cpu/cpu-kernel-registry.js';
import { grid2d } from '../backends/webgpu/grid.js';
import { type GpuKernel, whyNot } from '../backends/webgpu/kernel.js';
import {
  SIMHASH_PACK_WORKGROUP,
  type SimhashPackAttrs,
  simhashPackGeometry,
  simhashPackReference,
  simhashPackWgsl,
} from './simhash-pack.js';
import { f16ToNumber } from '../tensor/dtype.js';

export const simhashPackGpuKernel: GpuKernel = {
  op: 'simhash_pack',
  whyUnsupported: (_caps, attrs, inputs) =>
    whyNot(() => simhashPackGeometry(attrs as unknown as SimhashPackAttrs, inputs)),
  encode(ctx, attrs, inputs, [out]) {
    const a = attrs as unknown as SimhashPackAttrs;
    const { rows, words, f16 } = simhashPackGeometry(a, inputs);
    ctx.dispatch(
      { label: `simhash_pack.${f16 ? 'f16' : 'f32'}`, wgsl: simhashPackWgsl(f16), access: ['read', 'rw', 'uniform'] },
      [...inputs, out!],
      new Uint32Array([rows, a.bits, a.tables, 0]),
      grid2d(Math.ceil((rows * words) / SIMHASH_PACK_WORKGROUP), ctx.caps.maxComputeWorkgroupsPerDimension),
    );
  },
};

export const simhashPackCpuKernel: CpuKernel = {
  op: 'simhash_pack',
  supports: (attrs, inputs) => {
    try {
      simhashPackGeometry(attrs as unknown as SimhashPackAttrs, inputs);
      return true;
    } catch {
      return false;
    }
  },
  run: (ctx, attrs, inputs, [out]) => {
    const a = attrs as unknown as SimhashPackAttrs;
    const { rows, words, f16 } = simhashPackGeometry(a, inputs);
    const p = inputs[0] as Tensor;
    const n = rows * a.bits * a.tables;
    const raw = ctx.heap.view(p.dtype, ctx.addr(p), n);
    const values = f16 ? Float32Array.from(raw, (h) => f16ToNumber(h)) : (raw as Float32Array);
    ctx.heap.view('u32', ctx.addr(out!), rows * words).set(simhashPackReference(values, rows, a.bits, a.tables));
  },
};
