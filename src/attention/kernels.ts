/**
 * WebGPU kernels of the attention ops (registered in `src/kernels/index.ts`). Shapes and variant
 * select the generated WGSL; the pipeline cache keeps one pipeline per distinct shader.
 */
import type { Attrs, TensorDesc } from '../backends/backend.js';
import type { Capabilities } from '../backends/webgpu/capabilities.js';
import type { BindingAccess } from '../backends/webgpu/pipeline-cache.js';
import { type GpuKernel, type GpuTensor, shaderKey } from '../backends/webgpu/kernel.js';
import { grid2d } from '../kernels/elementwise.js';
import { numel } from '../tensor/dtype.js';
import {
  type AttentionKernelParams,
  attentionWgsl,
  isSoftwareDevice,
  loopBounds,
  mergeWgsl,
} from './attention-wgsl.js';
import { kvPoolGeometry, kvQuantProblem } from './kv-quant.js';
import { COPY_WGSL, SMALL_WG, appendWgsl, mergeStatesWgsl, wordsPerRow } from './misc-wgsl.js';
import { appendQuantWgsl } from './append-quant-wgsl.js';
import type { AppendKvAttrs, MergeStatesAttrs, PagedAttentionAttrs } from './ops.js';
import { pickTileKeys, whyHeadDimUnsupported } from './tile-config.js';
import { attentionBoundInputs, attentionStorageBindings } from './wgsl-kv.js';
import { variantName, variantParts } from './variants.js';
import { sgmatWhyUnsupported, sgmatAttentionWgsl, SGMAT_ROW_CHOICES } from './attention-sgmat.js';
import { streamAttentionWgsl, streamWhyUnsupported } from './attention-decode.js';
import { resolveTuning } from './tuning.js';
import { denseAttentionKernel } from './dense-attention.js';
import { qkvAppendKernel } from './qkv-append-kernel.js';

const FLOATS = ['f32', 'f16', 'bf16'];

/** The merge pass's fixed grid: enough workgroups to cover typical split counts, capped by the plan grid. */
const mergeGrid = (grid: number): number => Math.min(grid, 256);

/**
 * The compact binding layout (wgsl-kv.ts) where the full one's 11 storage buffers (13 with a mask)
 * exceed the device's limit: a browser's SwiftShader adapter allows 10.
 */
export function useCompactBindings(
  caps: Partial<Pick<Capabilities, 'maxStorageBuffersPerShaderStage'>>,
  usesMask: boolean,
): boolean {
  const limit = caps.maxStorageBuffersPerShaderStage;
  return limit !== undefined && attentionStorageBindings(false) + (usesMask ? 2 : 0) > limit;
}

export function attentionParams(
  caps: Pick<Capabilities, 'maxComputeWorkgroupStorageSize'> &
    Partial<Pick<Capabilities, 'maxStorageBuffersPerShaderStage'>>,
  attrs: PagedAttentionAttrs,
  inputs: readonly TensorDesc[],
): AttentionKernelParams {
  const [q, pool] = inputs as [TensorDesc, TensorDesc];
  const g = kvPoolGeometry(pool, attrs.layout, attrs.kvQuant);
  const d = q.shape[2]!;
  const tile = pickTileKeys(caps, d, attrs.tileRows);
  return {
    headDim: d,
    numQoHeads: q.shape[1]!,
    numKvHeads: g.numKvHeads,
    pageSize: g.pageSize,
    layout: attrs.layout,
    qDtype: q.dtype,
    kvDtype: attrs.kvQuant?.dtype ?? pool.dtype,
    oDtype: attrs.outDtype ?? q.dtype,
    scale: attrs.scale ?? 1 / Math.sqrt(d),
    variant: attrs.variant,
    tileRows: attrs.tileRows,
    tileKeys: tile?.tileKeys ?? 8,
    grid: attrs.grid,
    maxItems: attrs.maxItems,
    dynamicLoops: 'architecture' in caps && isSoftwareDevice(caps as Capabilities),
    subgroupSoftmax:
      'subgroups' in caps &&
      (caps as Capabilities).subgroups &&
      (caps as Capabilities).subgroupMinSize === tile?.tileKeys &&
      (caps as Capabilities).subgroupMaxSize === tile?.tileKeys,
    ...(useCompactBindings(
      caps,
      variantParts(attrs.variant).some((v) => v.usesMaskInput),
    )
      ? { compactBindings: true }
      : {}),
  };
}

/** Uses the f16 subgroup-matrix template when the device has it and the tile is the one it was built for. */
export function useSgmat(caps: Capabilities, attrs: PagedAttentionAttrs, inputs: readonly TensorDesc[]): boolean {
  // the tensor-core template loads f16 tiles straight into subgroup matrices; quantized pools take the f32 template
  return (
    !attrs.kvQuant &&
    SGMAT_ROW_CHOICES.includes(attrs.tileRows) &&
    sgmatWhyUnsupported(caps, attentionParams(caps, attrs, inputs), resolveTuning(attrs.tuning).sgmat) === null
  );
}

export const pagedAttentionKernel: GpuKernel = {
  op: 'paged_attention',
  whyUnsupported(caps, rawAttrs, inputs) {
    const attrs = rawAttrs as PagedAttentionAttrs;
    if (!FLOATS.includes(inputs[0]?.dtype ?? '') || (!attrs.kvQuant && !FLOATS.includes(inputs[1]?.dtype ?? '')))
      return 'q and the pool must be f32, f16 or bf16 (or the pool int8/int4 with kvQuant)';
    if (attrs.kvQuant) {
      const why = kvQuantProblem(attrs.kvQuant.dtype, attrs.kvQuant.headDim);
      if (why) return why;
    }
    const out = attrs.outDtype ?? inputs[0]!.dtype;
    if (!FLOATS.includes(out)) return `output dtype ${out} is not a float type`;
    const usesMask = variantParts(attrs.variant).some((v) => v.usesMaskInput);
    const bindings = attentionStorageBindings(useCompactBindings(caps, usesMask)) + (usesMask ? 2 : 0);
    if (bindings > caps.maxStorageBuffersPerShaderStage)
      return `needs ${bindings} storage bindings, the device has ${caps.maxStorageBuffersPerShaderStage}`;
    if (useSgmat(caps, attrs, inputs)) return null;
    return whyHeadDimUnsupported(caps, inputs[0]!.shape[2]!, attrs.tileRows);
  },
  encode(ctx, rawAttrs, inputs, outputs) {
    const attrs = rawAttrs as PagedAttentionAttrs;
    const p = attentionParams(ctx.caps, attrs, inputs);
    const tuning = resolveTuning(attrs.tuning);
    const sgmat = useSgmat(ctx.caps, attrs, inputs);
    const [o, lse] = outputs as [GpuTensor, GpuTensor];
    const tmpRows = attrs.maxItems * attrs.tileRows;
    const tmpO = ctx.scratch(tmpRows * p.headDim * 4, 'attention.tmp_o');
    const tmpLse = ctx.scratch(tmpRows * 4, 'attention.tmp_lse');
    const name = variantName(attrs.variant);
    const usesMask = inputs.length > 7;
    const bound = attentionBoundInputs(p.compactBindings);
    const access: BindingAccess[] = [
      ...Array<BindingAccess>(bound.length).fill('read'),
      'rw',
      'rw',
      'rw',
      'rw',
      ...(usesMask ? (['read', 'read'] as const) : []),
    ];
    // small row tiles (decode) stream K/V from global memory; the tiled template is the fallback
    const stream = !sgmat && streamWhyUnsupported(p, ctx.caps, tuning.stream) === null;
    // CPU drivers compile unrolled code slowly: one key per slot per step there
    const keysPerSlot = p.dynamicLoops ? 1 : tuning.stream.keysPerSlot;
    if (p.dynamicLoops && !sgmat && !stream) access.push('uniform');
    const wgsl = () =>
      sgmat
        ? sgmatAttentionWgsl(p, ctx.caps, tuning.sgmat)
        : stream
          ? streamAttentionWgsl(p, ctx.caps.subgroupMaxSize, { ...tuning.stream, keysPerSlot })
          : attentionWgsl(p);
    const label = `attention.${sgmat ? 'sgmat' : stream ? `stream${keysPerSlot}` : 'f32'}.${name}.${p.qDtype}.${p.kvDtype}.d${p.headDim}.tq${p.tileRows}`;
    // user hooks are functions, which a key cannot name: their shaders are found by text
    const keyed = !attrs.variant.extra?.length;
    const key = keyed ? shaderKey(label, p, tuning, keysPerSlot) : undefined;
    ctx.dispatch(
      { label, ...(key === undefined ? {} : { key }), wgsl, access },
      [...bound.map((i) => inputs[i]!), o, lse, tmpO, tmpLse, ...inputs.slice(7)],
      p.dynamicLoops && !sgmat && !stream ? loopBounds(p) : null,
      [attrs.grid],
    );
    // the merge pass (a no-op without splits) runs when the current plan has splits, asked again at
    // every replay of a recorded stream
    const mg = mergeGrid(attrs.grid);
    if (!tuning.stream.skipMerge)
      ctx.dispatch(
        {
          label: `attention.merge.${name}.d${p.headDim}`,
          ...(keyed ? { key: shaderKey(`attention.merge.${name}.d${p.headDim}`, p, mg) } : {}),
          wgsl: () => mergeWgsl(p, mg),
          access: ['read', 'read', 'read', 'rw', 'rw'],
        },
        [inputs[6]!, tmpO, tmpLse, o, lse],
        null,
        [mg],
        attrs.mergeNeeded,
      );
  },
};

export const appendKvKernel: GpuKernel = {
  op: 'append_kv',
  whyUnsupported(_caps, rawAttrs, inputs) {
    const q = (rawAttrs as AppendKvAttrs).kvQuant;
    if (q) return kvQuantProblem(q.dtype, q.headDim);
    return FLOATS.includes(inputs[0]?.dtype ?? '') ? null : 'the pool must be f32, f16 or bf16';
  },
  encode(ctx, rawAttrs, inputs, outputs) {
    const attrs = rawAttrs as AppendKvAttrs;
    const [pool, k, v, appendIndptr, kvIndptr, kvIndices, lastPageLen] = inputs as GpuTensor[];
    const out = outputs[0]!;
    const g = kvPoolGeometry(pool!, attrs.layout, attrs.kvQuant, 'append_kv');
    const maxWg = ctx.caps.maxComputeWorkgroupsPerDimension;
    if (out.buffer !== pool!.buffer) {
      // out-of-place: the output starts as a copy of the pool (in place, the usual case, skips this)
      const words = Math.ceil(pool!.byteSize / 4);
      ctx.dispatch(
        { label: 'append_kv.copy', wgsl: COPY_WGSL, access: ['read', 'rw', 'uniform'] },
        [pool!, out],
        new Uint32Array([words]),
        grid2d(Math.ceil(words / SMALL_WG), maxWg),
      );
    }
    const tokens = k!.shape[0]!;
    const batch = appendIndptr!.shape[0]! - 1;
    if (attrs.kvQuant) {
      // one thread per (token, head, K|V) row: the row's range is needed before any code is written
      const spec = attrs.kvQuant;
      const qlabel = `append_kv.${spec.dtype}.${k!.dtype}.${attrs.layout}.d${g.headDim}`;
      ctx.dispatch(
        {
          label: qlabel,
          key: shaderKey(qlabel, g.pageSize, g.numKvHeads, batch, g.numPages),
          wgsl: () => appendQuantWgsl(attrs.layout, spec, k!.dtype, batch, g.numPages),
          access: ['read', 'read', 'read', 'read', 'read', 'read', 'rw'],
        },
        [k!, v!, appendIndptr!, kvIndptr!, kvIndices!, lastPageLen!, out],
        null,
        grid2d(Math.ceil((tokens * g.numKvHeads * 2) / SMALL_WG), maxWg),
      );
      return;
    }
    const threads = tokens * g.numKvHeads * wordsPerRow(pool!.dtype, g.headDim);
    const label = `append_kv.${pool!.dtype}.${attrs.layout}.d${g.headDim}`;
    ctx.dispatch(
      {
        label,
        key: shaderKey(label, g.pageSize, g.numKvHeads, batch, g.numPages),
        wgsl: () => appendWgsl(attrs.layout, g.pageSize, g.numKvHeads, g.headDim, pool!.dtype, batch, g.numPages),
        access: ['read', 'read', 'read', 'read', 'read', 'read', 'rw'],
      },
      [k!, v!, appendIndptr!, kvIndptr!, kvIndices!, lastPageLen!, out],
      null,
      grid2d(Math.ceil(threads / SMALL_WG), maxWg),
    );
  },
};

export const mergeStatesKernel: GpuKernel = {
  op: 'merge_states',
  whyUnsupported(_caps, _attrs, inputs) {
    return FLOATS.includes(inputs[0]?.dtype ?? '') ? null : 'states must be f32, f16 or bf16';
  },
  encode(ctx, rawAttrs, inputs, outputs) {
    const attrs = rawAttrs as MergeStatesAttrs;
    const va = inputs[0]!;
    const d = va.shape[2]!;
    const rows = numel(va.shape) / d;
    const label = `merge_states.${va.dtype}.d${d}`;
    const outDtype = attrs.outDtype ?? va.dtype;
    ctx.dispatch(
      {
        label,
        key: shaderKey(label, outDtype),
        wgsl: () => mergeStatesWgsl(va.dtype, d, outDtype),
        access: ['read', 'read', 'read', 'read', 'rw', 'rw', 'uniform'],
      },
      [...inputs, ...outputs],
      new Uint32Array([rows]),
      grid2d(Math.ceil((rows * d) / 4 / SMALL_WG), ctx.caps.maxComputeWorkgroupsPerDimension),
    );
  },
};

export const ATTENTION_KERNELS: readonly GpuKernel[] = [
  pagedAttentionKernel,
  appendKvKernel,
  mergeStatesKernel,
  denseAttentionKernel,
  qkvAppendKernel,
];
export type { Attrs };
