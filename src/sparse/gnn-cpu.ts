/**
 * The graph ops `rgcn_csr`, `edge_softmax_csr` and `csr_to_ell` on the CPU backend, in f32
 * TypeScript over views of the kernel memory (as the backend's own sparse ops, cpu-sparse.ts):
 * gathers with a row each, off the decode path. Every product, sum and exp is rounded to f32
 * (`Math.fround`), the order of the WGSL kernels: so the ops' f32 bounds and tolerances apply.
 */
import type { CpuKernel } from '../backends/cpu/cpu-kernel-registry.js';
import type { OpImpl } from '../backends/cpu/cpu-op-context.js';
import { csrToEllGeometry } from './csr-to-ell.js';
import { edgeSoftmaxGeometry } from './edge-softmax.js';
import { ELL_PAD } from './formats.js';
import { rgcnGeometry } from './rgcn.js';

const f = Math.fround;

/** Y[i] = Σ_e v_e · (x_j · W_r): per edge the fin-term product in f32, then the weighted sum. */
const rgcn: OpImpl = (ctx, _attrs, inputs, [out]) => {
  const g = rgcnGeometry(inputs);
  const { m, k, nnz, relations: R, fin, fout } = g;
  const [ip, ix, rl, vl, xv, wv] = inputs;
  const indptr = ctx.heap.i32(ctx.addr(ip!), m + 1);
  const indices = ctx.heap.i32(ctx.addr(ix!), nnz);
  const rel = ctx.heap.i32(ctx.addr(rl!), nnz);
  const vals = ctx.heap.f32(ctx.addr(vl!), nnz);
  const x = ctx.heap.f32(ctx.addr(xv!), k * fin);
  const w = ctx.heap.f32(ctx.addr(wv!), R * fin * fout);
  const y = ctx.heap.f32(ctx.addr(out!), m * fout);
  const h = new Float32Array(fout);
  for (let i = 0; i < m; i++) {
    const yo = i * fout;
    y.fill(0, yo, yo + fout);
    for (let e = indptr[i]!; e < indptr[i + 1]!; e++) {
      const j = indices[e]!;
      const r = rel[e]!;
      if (j < 0 || j >= k || r < 0 || r >= R)
        throw new RangeError(`rgcn_csr: edge ${e} names column ${j}, relation ${r}`);
      h.fill(0);
      for (let q = 0; q < fin; q++) {
        const xq = x[j * fin + q]!;
        const wo = (r * fin + q) * fout;
        for (let c = 0; c < fout; c++) h[c] = f(h[c]! + f(xq * w[wo + c]!));
      }
      const v = vals[e]!;
      for (let c = 0; c < fout; c++) y[yo + c] = f(y[yo + c]! + f(v * h[c]!));
    }
  }
};

/** Per row: the max, the f32 sum of exp(s − max), then exp(s − max) · (1 / sum), as the WGSL kernel. */
const edgeSoftmax: OpImpl = (ctx, _attrs, inputs, [out]) => {
  const { m, nnz } = edgeSoftmaxGeometry(inputs);
  const indptr = ctx.heap.i32(ctx.addr(inputs[0]!), m + 1);
  const s = ctx.heap.f32(ctx.addr(inputs[1]!), nnz);
  const o = ctx.heap.f32(ctx.addr(out!), nnz);
  for (let i = 0; i < m; i++) {
    const [a, b] = [indptr[i]!, indptr[i + 1]!];
    let mx = -Infinity;
    for (let e = a; e < b; e++) mx = Math.max(mx, s[e]!);
    let sum = 0;
    for (let e = a; e < b; e++) sum = f(sum + f(Math.exp(f(s[e]! - mx))));
    const inv = f(1 / sum);
    for (let e = a; e < b; e++) o[e] = f(f(Math.exp(f(s[e]! - mx))) * inv);
  }
};

/** Each row's first `width` (column, value) pairs, padded with ELL_PAD and 0; `dropped` counts the rest. */
const csrToEll: OpImpl = (ctx, attrs, inputs, [cols, vals, dropped]) => {
  const { m, width } = csrToEllGeometry(attrs, inputs);
  const nnz = inputs[1]!.shape[0]!;
  const indptr = ctx.heap.i32(ctx.addr(inputs[0]!), m + 1);
  const indices = ctx.heap.i32(ctx.addr(inputs[1]!), nnz);
  const v = ctx.heap.f32(ctx.addr(inputs[2]!), nnz);
  const ec = ctx.heap.i32(ctx.addr(cols!), m * width);
  const ev = ctx.heap.f32(ctx.addr(vals!), m * width);
  const dr = ctx.heap.i32(ctx.addr(dropped!), m);
  for (let i = 0; i < m; i++) {
    const start = indptr[i]!;
    const len = indptr[i + 1]! - start;
    const keep = Math.min(len, width);
    for (let s = 0; s < width; s++) {
      ec[i * width + s] = s < keep ? indices[start + s]! : ELL_PAD;
      ev[i * width + s] = s < keep ? v[start + s]! : 0;
    }
    dr[i] = Math.max(0, len - width);
  }
};

export const GNN_CPU_KERNELS: readonly CpuKernel[] = [
  { op: 'rgcn_csr', run: rgcn },
  { op: 'edge_softmax_csr', run: edgeSoftmax },
  { op: 'csr_to_ell', run: csrToEll },
];
