/**
 * WebGPU kernels of the Atom W4A4 ops: the per-token quantizer (one variant per prologue and
 * reordering), the decode GEMV (M ≤ 8, preferred where it applies), the tensor-core GEMM for
 * M ≥ 16 on devices with i8 subgroup matrices (w4a4-sgmat-wgsl.ts), and the dot4I8Packed GEMM for
 * everything else.
 */
import type { Attrs, TensorDesc } from '../backends/backend.js';
import { grid2d } from '../backends/webgpu/grid.js';
import type { GpuKernel } from '../backends/webgpu/kernel.js';
import { type AtomQuantizeAttrs, atomMatmulGeometry, atomQuantizeGeometry } from './w4a4-ops.js';
import { batchedSplitSumWgsl } from './batched-wgsl.js';
import { W4A4_SGMAT_BN, w4a4SgmatSplit, w4a4SgmatTile, w4a4SgmatWgsl } from './w4a4-sgmat-wgsl.js';
import { ATOM_GEMM_TILE, ATOM_GEMV_MAX_M, atomGemmWgsl, atomGemvWgsl, atomQuantizeWgsl } from './w4a4-wgsl.js';

function why(geometry: (a: Attrs, i: readonly TensorDesc[]) => unknown, attrs: Attrs, inputs: readonly TensorDesc[]) {
  try {
    geometry(attrs, inputs);
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}

const f32Bits = (v: number) => new Uint32Array(Float32Array.of(v).buffer)[0]!;

export const atomQuantizeKernel: GpuKernel = {
  op: 'atom_quantize',
  whyUnsupported: (_caps, attrs, inputs) => why(atomQuantizeGeometry, attrs, inputs),
  encode(ctx, attrs, inputs, outputs) {
    const { m, k } = atomQuantizeGeometry(attrs, inputs);
    const { prologue, reordered, eps } = attrs as AtomQuantizeAttrs;
    if (m === 0) return;
    const [gx, gy] = grid2d(m, ctx.caps.maxComputeWorkgroupsPerDimension);
    ctx.dispatch(
      {
        label: `atom_quantize.${prologue}${reordered ? '.perm' : ''}`,
        wgsl: atomQuantizeWgsl(prologue, reordered),
        access: [...inputs.map(() => 'read' as const), 'rw', 'rw', 'uniform'],
      },
      [...inputs, ...outputs],
      new Uint32Array([m, k, f32Bits(eps ?? 0), gx]),
      [gx, gy],
    );
  },
};

export const atomGemvKernel: GpuKernel = {
  op: 'atom_matmul',
  whyUnsupported(_caps, attrs, inputs) {
    const w = why(atomMatmulGeometry, attrs, inputs);
    if (w) return w;
    const { m } = atomMatmulGeometry(attrs, inputs);
    return m >= 1 && m <= ATOM_GEMV_MAX_M ? null : `the GEMV takes 1..${ATOM_GEMV_MAX_M} rows, got ${m}`;
  },
  encode(ctx, attrs, inputs, [y]) {
    const { m, n, k } = atomMatmulGeometry(attrs, inputs);
    const [gx, gy] = grid2d(n, ctx.caps.maxComputeWorkgroupsPerDimension);
    ctx.dispatch(
      { label: `atom_matmul.gemv.m${m}`, wgsl: atomGemvWgsl(m), access: ['read', 'read', 'read', 'rw', 'uniform'] },
      [...inputs, y!],
      new Uint32Array([m, n, k, gx]),
      [gx, gy],
    );
  },
};

/** Rows from which the tensor-core GEMM serves: below 16 a 16-row matrix would be mostly padding. */
export const ATOM_SGMAT_MIN_M = 16;

export const atomSgmatKernel: GpuKernel = {
  op: 'atom_matmul',
  whyUnsupported(caps, attrs, inputs) {
    const w = why(atomMatmulGeometry, attrs, inputs);
    if (w) return w;
    const { m } = atomMatmulGeometry(attrs, inputs);
    if (m < ATOM_SGMAT_MIN_M) return `the tensor-core GEMM takes ${ATOM_SGMAT_MIN_M} rows or more, got ${m}`;
    const t = w4a4SgmatTile(m, caps);
    return typeof t === 'string' ? t : null;
  },
  encode(ctx, attrs, inputs, [y]) {
    const { m, n, k } = atomMatmulGeometry(attrs, inputs);
    const t = w4a4SgmatTile(m, ctx.caps);
    if (typeof t === 'string') throw new Error(`atom_matmul: ${t}`);
    const { split, gps } = w4a4SgmatSplit(t, m, n, k);
    const tiles = Math.ceil(m / (16 * t.MT)) * Math.ceil(n / W4A4_SGMAT_BN);
    const [gx, gy] = grid2d(tiles * split, ctx.caps.maxComputeWorkgroupsPerDimension);
    const out = split > 1 ? ctx.scratch(split * m * n * 4, 'atom_matmul.split-k') : y!;
    ctx.dispatch(
      {
        label: `atom_matmul.sgmat.mt${t.MT}.cs${t.CS}.${t.unit}`,
        wgsl: w4a4SgmatWgsl(t),
        access: ['read', 'read', 'read', 'rw', 'uniform'],
      },
      [...inputs, out],
      new Uint32Array([m, n, k, gx, tiles, gps, 0, 0]),
      [gx, gy],
    );
    if (split === 1) return;
    const [sx, sy] = grid2d(Math.ceil((m * n) / 256), ctx.caps.maxComputeWorkgroupsPerDimension);
    ctx.dispatch(
      { label: 'atom_matmul.split-k-sum', wgsl: batchedSplitSumWgsl(), access: ['read', 'rw', 'uniform'] },
      [out, y!],
      new Uint32Array([m * n, split, sx, 0]),
      [sx, sy],
    );
  },
};

export const atomGemmKernel: GpuKernel = {
  op: 'atom_matmul',
  whyUnsupported: (_caps, attrs, inputs) => why(atomMatmulGeometry, attrs, inputs),
  encode(ctx, attrs, inputs, [y]) {
    const { m, n, k } = atomMatmulGeometry(attrs, inputs);
    if (m === 0) return;
    const tiles = Math.ceil(m / ATOM_GEMM_TILE) * Math.ceil(n / ATOM_GEMM_TILE);
    const [gx, gy] = grid2d(tiles, ctx.caps.maxComputeWorkgroupsPerDimension);
    ctx.dispatch(
      { label: 'atom_matmul.gemm', wgsl: atomGemmWgsl(), access: ['read', 'read', 'read', 'rw', 'uniform'] },
      [...inputs, y!],
      new Uint32Array([m, n, k, gx]),
      [gx, gy],
    );
  },
};

export const ATOM_KERNELS: readonly GpuKernel[] = [atomQuantizeKernel, atomGemvKernel, atomSgmatKernel, atomGemmKernel];
