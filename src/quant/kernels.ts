/**
 * WebGPU kernels of `quant_matmul`, in order of preference: the decode GEMV for one row, the
 * tensor-core GEMM for 16 ≤ M ≤ 256 where the caller allows f16 operands and the device has f16
 * subgroup matrices (quant-sgmat-wgsl.ts), the batched GEMM for 2 ≤ M ≤ 256, then the tiled GEMM
 * for any M. Each generates its WGSL per format
 * (the GEMV per M, the batched GEMM per tile); the pipeline cache keeps one pipeline per distinct
 * shader. `attrs.path` forces one of them where it can serve the shape.
 *
 * The GEMV is the chunked one (gemv-chunked-wgsl.ts) for M ≤ 4 and the 8-value one (gemv-wgsl.ts)
 * for larger forced M. It reads every activation row once per workgroup of 2–4 weight rows, which at
 * M = 1 costs little beside the weights; from M = 2 the batched GEMM reads the activations once per
 * 32 weight rows instead and the weights still once.
 */
import type { Attrs, TensorDesc } from '../backends/backend.js';
import { grid2d } from '../backends/webgpu/grid.js';
import type { BufferRange, GpuKernel, GpuTensor, KernelContext } from '../backends/webgpu/kernel.js';
import {
  BATCHED_BN,
  BATCHED_MAX_M,
  batchedSplit,
  batchedSplitSumWgsl,
  batchedTile,
  quantBatchedWgsl,
} from './batched-wgsl.js';
import { GEMM_TILE, quantGemmWgsl } from './gemm-wgsl.js';
import { quantSgmatBN, quantSgmatSplit, quantSgmatTile, quantSgmatWgsl } from './quant-sgmat-wgsl.js';
import { GEMV_MAX_M, quantGemvWgsl } from './gemv-wgsl.js';
import { chunkedGemvParams, quantGemvChunkedWgsl, servesChunked } from './gemv-chunked-wgsl.js';
import { type QuantMatmulAttrs, type QuantMatmulGeometry, type QuantMatmulPath, quantMatmulGeometry } from './ops.js';

/** Rows the GEMV takes unless forced: past one row the batched GEMM reads fewer bytes. */
export const GEMV_AUTO_MAX_M = 1;

/** The geometry, or why the kernel `path` does not serve these attributes and inputs. */
function geometryFor(path: QuantMatmulPath, attrs: Attrs, inputs: readonly TensorDesc[]): QuantMatmulGeometry | string {
  const forced = (attrs as QuantMatmulAttrs).path;
  if (forced !== undefined && forced !== path) return `path '${forced}' requested`;
  try {
    return quantMatmulGeometry(attrs, inputs);
  } catch (e) {
    return (e as Error).message;
  }
}

const forced = (attrs: Attrs): boolean => (attrs as QuantMatmulAttrs).path !== undefined;

export const quantGemvKernel: GpuKernel = {
  op: 'quant_matmul',
  whyUnsupported(_caps, attrs, inputs) {
    const g = geometryFor('gemv', attrs, inputs);
    if (typeof g === 'string') return g;
    const max = forced(attrs) ? GEMV_MAX_M : GEMV_AUTO_MAX_M;
    return g.m >= 1 && g.m <= max ? null : `the GEMV takes 1..${max} rows, got ${g.m}`;
  },
  encode(ctx, attrs, inputs, [y]) {
    const { m, n, k, format } = quantMatmulGeometry(attrs, inputs);
    if (servesChunked(m)) {
      const p = chunkedGemvParams(n, ctx.caps);
      const [gx, gy] = grid2d(Math.ceil(n / p.R), ctx.caps.maxComputeWorkgroupsPerDimension);
      // the label names every parameter of the generator, so it keys the pipeline (no WGSL per call)
      const label = `quant_matmul.gemv-chunked.${format}.m${m}.r${p.R}.w${p.W}${p.subgroups ? '.sg' : ''}`;
      ctx.dispatch(
        {
          label,
          key: label,
          wgsl: () => quantGemvChunkedWgsl(format, m, p),
          access: ['read', 'read', 'rw', 'uniform'],
        },
        [...inputs, y!],
        new Uint32Array([m, n, k, gx]),
        [gx, gy],
      );
      return;
    }
    const [gx, gy] = grid2d(n, ctx.caps.maxComputeWorkgroupsPerDimension);
    ctx.dispatch(
      {
        label: `quant_matmul.gemv.${format}.m${m}`,
        wgsl: quantGemvWgsl(format, m),
        access: ['read', 'read', 'rw', 'uniform'],
      },
      [...inputs, y!],
      new Uint32Array([m, n, k, gx]),
      [gx, gy],
    );
  },
};

export const quantSgmatKernel: GpuKernel = {
  op: 'quant_matmul',
  whyUnsupported(caps, attrs, inputs) {
    const g = geometryFor('sgmat', attrs, inputs);
    if (typeof g === 'string') return g;
    if (!(attrs as QuantMatmulAttrs).f16Operands)
      return 'the tensor-core GEMM rounds x and W to f16: needs f16Operands';
    const t = quantSgmatTile(g.m, caps);
    return typeof t === 'string' ? t : null;
  },
  encode(ctx, attrs, inputs, [y]) {
    const { m, n, k, format } = quantMatmulGeometry(attrs, inputs);
    const t = quantSgmatTile(m, ctx.caps);
    if (typeof t === 'string') throw new Error(`quant_matmul: ${t}`);
    const { split, kc } = quantSgmatSplit(t, m, n, k);
    const tiles = Math.ceil(m / (16 * t.MT)) * Math.ceil(n / quantSgmatBN(t));
    const [gx, gy] = grid2d(tiles * split, ctx.caps.maxComputeWorkgroupsPerDimension);
    const out = split > 1 ? ctx.scratch(split * m * n * 4, 'quant_matmul.split-k') : y!;
    ctx.dispatch(
      {
        label: `quant_matmul.sgmat.${format}.mt${t.MT}.tn${t.TN}`,
        wgsl: quantSgmatWgsl(format, t),
        access: ['read', 'read', 'rw', 'uniform'],
      },
      [...inputs, out],
      new Uint32Array([m, n, k, gx, tiles, kc, 0, 0]),
      [gx, gy],
    );
    if (split > 1) splitSum(ctx, out, y!, m * n, split);
  },
};

/** The second pass of a K split: the slices' partial products added into y in a fixed order. */
function splitSum(
  ctx: KernelContext,
  part: GpuTensor | BufferRange,
  y: GpuTensor | BufferRange,
  count: number,
  split: number,
) {
  const [sx, sy] = grid2d(Math.ceil(count / 256), ctx.caps.maxComputeWorkgroupsPerDimension);
  ctx.dispatch(
    { label: 'quant_matmul.split-k-sum', wgsl: batchedSplitSumWgsl(), access: ['read', 'rw', 'uniform'] },
    [part, y],
    new Uint32Array([count, split, sx, 0]),
    [sx, sy],
  );
}

export const quantBatchedKernel: GpuKernel = {
  op: 'quant_matmul',
  whyUnsupported(caps, attrs, inputs) {
    const g = geometryFor('batched', attrs, inputs);
    if (typeof g === 'string') return g;
    const min = forced(attrs) ? 1 : GEMV_AUTO_MAX_M + 1;
    if (g.m < min || g.m > BATCHED_MAX_M) return `the batched GEMM takes ${min}..${BATCHED_MAX_M} rows, got ${g.m}`;
    if (!batchedTile(g.m, caps))
      return `the batched GEMM's smallest tile for M = ${g.m} exceeds the device's workgroup storage or invocations`;
    return null;
  },
  encode(ctx, attrs, inputs, [y]) {
    const { m, n, k, format } = quantMatmulGeometry(attrs, inputs);
    const t = batchedTile(m, ctx.caps)!;
    const { split, kc } = batchedSplit(t, m, n, k);
    const tiles = Math.ceil(m / t.BM) * Math.ceil(n / BATCHED_BN);
    const [gx, gy] = grid2d(tiles * split, ctx.caps.maxComputeWorkgroupsPerDimension);
    const out = split > 1 ? ctx.scratch(split * m * n * 4, 'quant_matmul.split-k') : y!;
    ctx.dispatch(
      {
        label: `quant_matmul.batched.${format}.bm${t.BM}.kg${t.KG}`,
        wgsl: quantBatchedWgsl(format, t),
        access: ['read', 'read', 'rw', 'uniform'],
      },
      [...inputs, out],
      new Uint32Array([m, n, k, gx, tiles, kc, 0, 0]),
      [gx, gy],
    );
    if (split > 1) splitSum(ctx, out, y!, m * n, split);
  },
};

export const quantGemmKernel: GpuKernel = {
  op: 'quant_matmul',
  whyUnsupported: (_caps, attrs, inputs) => {
    const g = geometryFor('gemm', attrs, inputs);
    return typeof g === 'string' ? g : null;
  },
  encode(ctx, attrs, inputs, [y]) {
    const { m, n, k, format } = quantMatmulGeometry(attrs, inputs);
    if (m === 0) return;
    const tiles = Math.ceil(m / GEMM_TILE) * Math.ceil(n / GEMM_TILE);
    const [gx, gy] = grid2d(tiles, ctx.caps.maxComputeWorkgroupsPerDimension);
    ctx.dispatch(
      { label: `quant_matmul.gemm.${format}`, wgsl: quantGemmWgsl(format), access: ['read', 'read', 'rw', 'uniform'] },
      [...inputs, y!],
      new Uint32Array([m, n, k, gx]),
      [gx, gy],
    );
  },
};

export const QUANT_KERNELS: readonly GpuKernel[] = [
  quantGemvKernel,
  quantSgmatKernel,
  quantBatchedKernel,
  quantGemmKernel,
];
