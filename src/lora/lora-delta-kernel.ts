/**
 * `lora_delta` (lora-delta.ts) on WebGPU: decode rows in one dispatch of the sliced kernel
 * (lora-delta-sliced.ts), 256-column tiles and slices of K; batches up to 256 rows in the segmented
 * schedule's shrink and expand (lora-delta-segmented.ts), rows of one slot sharing loads of A and B;
 * more rows in the sliced kernel's wide tiles of one slice. Members that would pass the device's storage bindings go in further dispatches. Which
 * schedule, slicing and how many dispatches is `loraDeltaPlan` (lora-delta-plan.ts), which tests
 * count.
 */
import { type GpuKernel, shaderKey, whyNot } from '../backends/webgpu/kernel.js';
import { type LoraDeltaAttrs, loraDeltaGeometry, memberInputs } from './lora-delta.js';
import { loraDeltaPlan, membersPerDispatch } from './lora-delta-plan.js';
import { SLICED_WG, slicedScratchWords, slicedTiles, slicedWgsl } from './lora-delta-sliced.js';
import { chunkWorkspace } from './chunk-workspace.js';
import { SEG_WG, segmentExpandWgsl, segmentShrinkWgsl, segmentWorkspaceWords } from './lora-delta-segmented.js';

export const loraDeltaKernel: GpuKernel = {
  op: 'lora_delta',
  whyUnsupported(caps, rawAttrs, inputs) {
    const attrs = rawAttrs as LoraDeltaAttrs;
    return whyNot(() => {
      const g = loraDeltaGeometry(attrs, inputs);
      if (membersPerDispatch(caps, attrs.normEps !== undefined, false) < 1)
        throw new Error(`lora_delta: ${caps.maxStorageBuffersPerShaderStage} storage bindings are too few`);
      if (g.n > caps.maxComputeWorkgroupsPerDimension)
        throw new Error(`lora_delta: ${g.n} rows exceed ${caps.maxComputeWorkgroupsPerDimension} workgroups`);
    });
  },
  encode(ctx, rawAttrs, inputs, outputs) {
    const attrs = rawAttrs as LoraDeltaAttrs;
    const whole = loraDeltaGeometry(attrs, inputs);
    const normed = attrs.normEps !== undefined;
    const fixed = inputs.slice(0, normed ? 4 : 3);
    const eps = new Float32Array([attrs.normEps ?? 0]);
    const uniforms = new Uint32Array([whole.n, whole.k, whole.rmax, whole.slots, new Uint32Array(eps.buffer)[0]!]);
    for (const d of loraDeltaPlan(ctx.caps, attrs, inputs)) {
      const { g, members } = d;
      const stacks = members.flatMap((i) => {
        const at = memberInputs(attrs, i);
        return [inputs[at.a]!, inputs[at.b]!, inputs[at.rank]!];
      });
      const outs = members.map((i) => outputs[i]!);
      if (d.schedule === 'segmented') {
        const { slices, sliceLen, cols } = d;
        const m = members.length;
        const tag = `lora_delta.segmented.x${m}${normed ? '.norm' : ''}.s${slices}`;
        // every part the expand reads is written by this call's shrink first: step scratch will do
        const ws = ctx.scratch(segmentWorkspaceWords(g, slices) * 4, `${tag}.workspace`);
        const shrinkIn = members.flatMap((i) => {
          const at = memberInputs(attrs, i);
          return [inputs[at.a]!, inputs[at.rank]!];
        });
        const expandIn = members.flatMap((i) => {
          const at = memberInputs(attrs, i);
          return [inputs[at.b]!, inputs[at.rank]!];
        });
        const rowIn = fixed.slice(0, normed ? 3 : 2);
        ctx.dispatch(
          {
            label: `${tag}.shrink`,
            key: shaderKey(`${tag}.shrink`, { ...g, n: 0 }, sliceLen),
            wgsl: () => segmentShrinkWgsl(g, ctx.caps, slices, sliceLen),
            access: [...[...rowIn, ...shrinkIn].map(() => 'read' as const), 'rw', 'uniform'],
          },
          [...rowIn, ...shrinkIn, ws],
          uniforms,
          [m * slices, g.n],
        );
        ctx.dispatch(
          {
            label: `${tag}.expand`,
            key: shaderKey(`${tag}.expand`, { ...g, n: 0 }, cols),
            wgsl: () => segmentExpandWgsl(g, ctx.caps, slices, cols),
            access: [
              ...[fixed[normed ? 2 : 1]!, fixed[normed ? 3 : 2]!, ...expandIn].map(() => 'read' as const),
              ...outs.map(() => 'rw' as const),
              'read',
              'uniform',
            ],
          },
          [fixed[normed ? 2 : 1]!, fixed[normed ? 3 : 2]!, ...expandIn, ...outs, ws],
          uniforms,
          [slicedTiles(g, SEG_WG * cols), g.n],
        );
        continue;
      }
      const reads = [...fixed, ...stacks].map(() => 'read' as const);
      const writes = outs.map(() => 'rw' as const);
      const { slices, sliceLen, cols } = d;
      // zeroed at creation and left zeroed by every run (chunk-workspace.ts)
      const sync = slices > 1 ? [{ buffer: chunkWorkspace(ctx.device, slicedScratchWords(g, slices, cols) * 4) }] : [];
      const label = `lora_delta.${d.schedule}.x${members.length}${normed ? '.norm' : ''}.s${slices}`;
      ctx.dispatch(
        {
          label,
          // the shader does not depend on the row count (rows are workgroups; the workspace offset is a uniform)
          key: shaderKey(label, { ...g, n: 0 }, sliceLen, cols),
          wgsl: () => slicedWgsl(g, ctx.caps, slices, sliceLen, cols),
          access: [...reads, ...writes, ...(slices > 1 ? (['rw'] as const) : []), 'uniform'],
        },
        [...fixed, ...stacks, ...outs, ...sync],
        uniforms,
        [slices * slicedTiles(g, SLICED_WG * cols), g.n],
      );
    }
  },
};
