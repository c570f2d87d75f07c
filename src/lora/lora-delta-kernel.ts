/**
 * `lora_delta` (lora-delta.ts) on WebGPU: shrink and expand in one dispatch. Decode rows take the
 * sliced schedule (lora-delta-sliced.ts). For more rows a workgroup owns one row and one member's
 * output columns: it RMS-normalises the row where asked, computes the row's rank-sized
 * v = x̂·A[a]ᵀ into workgroup memory (eight ranks at a time, 32 lanes striding over K), then its
 * columns' scale·v·B[a]ᵀ, so A and B are read once per row and member. A row with no adapter (or
 * rank 0) writes zeros and reads nothing. Members that would pass the device's storage bindings go
 * in further dispatches. Which schedule and how many dispatches is `loraDeltaPlan`
 * (lora-delta-plan.ts), which tests count.
 */
import type { Capabilities } from '../backends/webgpu/capabilities.js';
import { type GpuKernel, shaderKey, whyNot } from '../backends/webgpu/kernel.js';
import { uniformDecl } from '../kernels/wgsl-dtype.js';
import { type LoraDeltaAttrs, type LoraDeltaGeometry, loraDeltaGeometry, memberInputs } from './lora-delta.js';
import { loraDeltaPlan, membersPerDispatch } from './lora-delta-plan.js';
import { slicedScratchWords, slicedTiles, slicedWgsl } from './lora-delta-sliced.js';
import { chunkWorkspace } from './chunk-workspace.js';
import {
  loraDeltaBindings,
  loraDeltaEnables,
  memberAccessorsWgsl,
  ROW_RANK_WGSL,
  rmsScaleWgsl,
  segmentWalkWgsl,
  shrinkPassWgsl,
} from './lora-delta-wgsl.js';

const WG = 256;
const RANKS_PER_PASS = 8;
const LANES = WG / RANKS_PER_PASS;

/** Bindings: x, [nw], slots, scale, then A, B, rank per member, then each member's output; uniforms [n, K, rmax, slots, eps]. */
export function loraDeltaWgsl(g: LoraDeltaGeometry, caps: Pick<Capabilities, 'f16'>, tile: number): string {
  const { decl, next: b } = loraDeltaBindings(g, caps);
  return `${loraDeltaEnables(g, caps)}${decl.join('\n')}
${uniformDecl(b, 5)}
var<workgroup> red: array<f32, ${WG}>;
var<workgroup> vr: array<f32, ${Math.max(g.rmax, 1)}>;
var<workgroup> wrank: u32;
${memberAccessorsWgsl(g, caps)}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let K = uw(1u);
  let rmax = uw(2u);
  let row = wid.y;
  var seg = 0u;
  var t = wid.x;
${segmentWalkWgsl(g, tile)}
  let N = width(seg);
  let c0 = t * ${tile}u;
  let c1 = min(N, c0 + ${tile}u);
${ROW_RANK_WGSL}
  if (rk == 0u) {
    for (var c = c0 + lid; c < c1; c += ${WG}u) { put(seg, row * N + c, 0.0); }
    return;
  }
  let s = u32(row_slot[row]);
  let xb = row * K;
  var rs = 1.0;
${rmsScaleWgsl(g, caps, WG)}
  let lane = lid % ${LANES}u;
  for (var r0 = 0u; r0 < rk; r0 += ${RANKS_PER_PASS}u) {
    let r = r0 + lid / ${LANES}u;
${shrinkPassWgsl(g, caps, LANES, { rank: 'r', aRow: '(s * rmax + r)', live: 'r < rk', indent: '    ' })}
  }
  let sc = scale[s];
  for (var c = c0 + lid; c < c1; c += ${WG}u) {
    let bb = (s * N + c) * rmax;
    var acc = 0.0;
    for (var r = 0u; r < rk; r++) { acc += vr[r] * b_at(seg, bb + r); }
    put(seg, row * N + c, sc * acc);
  }
}`;
}

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
      const reads = [...fixed, ...stacks].map(() => 'read' as const);
      const writes = outs.map(() => 'rw' as const);
      if (d.schedule === 'sliced') {
        const { slices, sliceLen } = d;
        // zeroed at creation and left zeroed by every run (chunk-workspace.ts)
        const sync = slices > 1 ? [{ buffer: chunkWorkspace(ctx.device, slicedScratchWords(g, slices) * 4) }] : [];
        const label = `lora_delta.sliced.x${members.length}${normed ? '.norm' : ''}.s${slices}`;
        ctx.dispatch(
          {
            label,
            // the shader does not depend on the row count (rows are workgroups; the workspace offset is a uniform)
            key: shaderKey(label, { ...g, n: 0 }, sliceLen),
            wgsl: () => slicedWgsl(g, ctx.caps, slices, sliceLen),
            access: [...reads, ...writes, ...(slices > 1 ? (['rw'] as const) : []), 'uniform'],
          },
          [...fixed, ...stacks, ...outs, ...sync],
          uniforms,
          [slices * slicedTiles(g), g.n],
        );
        continue;
      }
      const tile = Math.ceil(Math.max(...g.widths) / WG) * WG;
      const label = `lora_delta.x${members.length}${normed ? '.norm' : ''}.t${tile}`;
      const tiles = g.widths.reduce((s, N) => s + Math.ceil(N / tile), 0);
      ctx.dispatch(
        {
          label,
          // the shader does not depend on the row count (rows are workgroups)
          key: shaderKey(label, { ...g, n: 0 }, tile),
          wgsl: () => loraDeltaWgsl(g, ctx.caps, tile),
          access: [...reads, ...writes, 'uniform'],
        },
        [...fixed, ...stacks, ...outs],
        uniforms,
        [tiles, g.n],
      );
    }
  },
};
