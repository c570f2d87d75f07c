/** WebGPU kernels of `lora_bgmv` and `lora_sgmv`: the shrink and the expand dispatch (lora-wgsl.ts). */
import type { Capabilities } from '../backends/webgpu/capabilities.js';
import type { GpuKernel } from '../backends/webgpu/kernel.js';
import type { TensorDesc } from '../backends/backend.js';
import { elemsPerWord } from '../kernels/wgsl-dtype.js';
import { loraGeometry } from './lora-ops.js';
import {
  EXPAND_WORKGROUP,
  expandWgsl,
  lookupBindings,
  SHRINK_RANKS,
  type SlotLookup,
  shrinkWgsl,
} from './lora-wgsl.js';

function whyUnsupported(op: string, caps: Capabilities, inputs: readonly TensorDesc[]): string | null {
  try {
    const g = loraGeometry(op, inputs);
    // a packed f16 row of odd width would share its last word with the next row
    if (elemsPerWord(g.act, caps) === 2 && g.out % 2 !== 0)
      return `${op}: f16 stored packed (no shader-f16) needs an even output width, got ${g.out}`;
    if (g.n > caps.maxComputeWorkgroupsPerDimension)
      return `${op}: ${g.n} rows exceed ${caps.maxComputeWorkgroupsPerDimension} workgroups per dimension`;
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}

function loraKernel(op: 'lora_bgmv' | 'lora_sgmv', lookup: SlotLookup): GpuKernel {
  const lb = lookupBindings(lookup);
  return {
    op,
    whyUnsupported: (caps, _attrs, inputs) => whyUnsupported(op, caps, inputs),
    encode(ctx, _attrs, inputs, [out]) {
      const g = loraGeometry(op, inputs);
      const [y, x, a, b, scale, rank] = inputs;
      const look = inputs.slice(6);
      const v = ctx.scratch(Math.max(4, g.n * g.rmax * 4), `${op} shrink`);
      const segments = lookup === 'segments' ? inputs[7]!.shape[0]! : 0;
      const uni = (cols: number) => new Uint32Array([g.n, cols, g.rmax, g.slots, segments]);
      ctx.dispatch(
        {
          label: `${op} shrink`,
          wgsl: shrinkWgsl(g, ctx.caps, lookup),
          access: ['read', 'read', 'read', ...Array<'read'>(lb).fill('read'), 'rw', 'uniform'],
        },
        [x!, a!, rank!, ...look, v],
        uni(g.in),
        [Math.ceil(g.rmax / SHRINK_RANKS), g.n],
      );
      ctx.dispatch(
        {
          label: `${op} expand`,
          wgsl: expandWgsl(g, ctx.caps, lookup),
          access: ['read', 'read', 'read', 'read', ...Array<'read'>(lb).fill('read'), 'read', 'rw', 'uniform'],
        },
        [y!, b!, scale!, rank!, ...look, v, out!],
        uni(g.out),
        [Math.ceil(g.out / 2 / EXPAND_WORKGROUP), g.n],
      );
    },
  };
}

export const LORA_KERNELS: readonly GpuKernel[] = [
  loraKernel('lora_bgmv', 'index'),
  loraKernel('lora_sgmv', 'segments'),
];
