/**
 * `lora_bgmv` and `lora_sgmv` (lora-ops.ts) on the CPU backend, in f32 TypeScript: per row, the
 * rank-sized v = x·A[a]ᵀ then out = y + scale[a]·(v·B[a]ᵀ), every product and sum rounded to f32
 * (`Math.fround`) as the WGSL kernels accumulate, and one rounding to the activation dtype. The
 * work is rank·(in + out) per row, small beside the base projection's in·out, so it stays on the
 * calling thread.
 */
import type { Tensor } from '../backends/backend.js';
import type { CpuKernel } from '../backends/cpu/cpu-kernel-registry.js';
import { type OpContext, type OpImpl, f32Target, storeF32 } from '../backends/cpu/cpu-op-context.js';
import { numel } from '../tensor/dtype.js';
import { type LoraDeltaAttrs, loraDeltaGeometry, memberInputs } from './lora-delta.js';
import { loraGeometry, rowsFromSegments } from './lora-ops.js';

const f = Math.fround;

function lora(ctx: OpContext, op: string, inputs: readonly Tensor[], out: Tensor, rowSlot: (n: number) => Int32Array) {
  const g = loraGeometry(op, inputs);
  const [y, x, a, b, scale, rank] = inputs as Tensor[];
  const c = f32Target(ctx, out);
  const at = [y!, x!, a!, b!].map((t) => ctx.f32(t));
  const v = new Float32Array(g.rmax);
  // views after every scratch allocation, so no memory growth detaches them
  const [yv, xv, av, bv] = at.map((p, i) => ctx.heap.f32(p, numel([y!, x!, a!, b!][i]!.shape)));
  const o = ctx.heap.f32(c, g.n * g.out);
  const sc = ctx.heap.f32(ctx.addr(scale!), g.slots);
  const rk = ctx.heap.i32(ctx.addr(rank!), g.slots);
  const idx = rowSlot(g.n);
  if (c !== at[0]) o.set(yv!);
  for (let i = 0; i < g.n; i++) {
    const s = idx[i]!;
    if (s < 0 || s >= g.slots) continue;
    const r = rk[s]!;
    if (!(r >= 0 && r <= g.rmax)) throw new RangeError(`${op}: slot ${s} has rank ${r}, outside [0, ${g.rmax}]`);
    const xo = i * g.in;
    for (let q = 0; q < r; q++) {
      const ao = (s * g.rmax + q) * g.in;
      let acc = 0;
      for (let k = 0; k < g.in; k++) acc = f(acc + f(xv![xo + k]! * av![ao + k]!));
      v[q] = acc;
    }
    for (let j = 0; j < g.out; j++) {
      const bo = (s * g.out + j) * g.rmax;
      let acc = 0;
      for (let q = 0; q < r; q++) acc = f(acc + f(v[q]! * bv![bo + q]!));
      o[i * g.out + j] = f(o[i * g.out + j]! + f(sc[s]! * acc));
    }
  }
  storeF32(ctx, c, out, g.n * g.out);
}

const bgmv: OpImpl = (ctx, _attrs, inputs, [out]) =>
  lora(ctx, 'lora_bgmv', inputs, out!, (n) => ctx.heap.i32(ctx.addr(inputs[6]!), n).slice());

const sgmv: OpImpl = (ctx, _attrs, inputs, [out]) =>
  lora(ctx, 'lora_sgmv', inputs, out!, (n) => {
    const s = inputs[7]!.shape[0]!;
    return rowsFromSegments(ctx.heap.i32(ctx.addr(inputs[6]!), s + 1), ctx.heap.i32(ctx.addr(inputs[7]!), s), n);
  });

/**
 * `lora_delta` (lora-delta.ts): each row normalised once where asked (f32 sums, as the WebGPU
 * kernel), then per member the rank-sized v and the member's columns of scale·v·Bᵀ into its f32
 * output; rows without an adapter are zeros.
 */
const delta: OpImpl = (ctx, rawAttrs, inputs, outputs) => {
  const attrs = rawAttrs as LoraDeltaAttrs;
  const g = loraDeltaGeometry(attrs, inputs);
  const normed = attrs.normEps !== undefined;
  const xa = ctx.f32(inputs[0]!);
  const na = normed ? ctx.f32(inputs[1]!) : 0;
  const at = memberAddrs(ctx, attrs, inputs);
  // views after every scratch allocation, so no memory growth detaches them
  const x = ctx.heap.f32(xa, g.n * g.k);
  const nw = normed ? ctx.heap.f32(na, g.k) : undefined;
  const idx = ctx.heap.i32(ctx.addr(inputs[normed ? 2 : 1]!), g.n);
  const sc = ctx.heap.f32(ctx.addr(inputs[normed ? 3 : 2]!), g.slots);
  const row = new Float32Array(g.k);
  const v = new Float32Array(g.rmax);
  const outs = outputs.map((o, m) => ctx.heap.f32(ctx.addr(o), g.n * g.widths[m]!));
  for (const o of outs) o.fill(0);
  for (let i = 0; i < g.n; i++) {
    const s = idx[i]!;
    if (s < 0 || s >= g.slots) continue;
    let rs = 1;
    if (nw) {
      let ss = 0;
      for (let k = 0; k < g.k; k++) ss = f(ss + f(x[i * g.k + k]! * x[i * g.k + k]!));
      rs = f(1 / Math.sqrt(f(ss / g.k) + attrs.normEps!));
    }
    for (let k = 0; k < g.k; k++) row[k] = nw ? f(x[i * g.k + k]! * nw[k]!) : x[i * g.k + k]!;
    g.widths.forEach((N, m) => {
      const { a, b, rank } = at[m]!;
      const r = Math.min(Math.max(rank[s]!, 0), g.rmax);
      for (let q = 0; q < r; q++) {
        const ao = (s * g.rmax + q) * g.k;
        let acc = 0;
        for (let k = 0; k < g.k; k++) acc = f(acc + f(row[k]! * a[ao + k]!));
        v[q] = f(acc * rs);
      }
      for (let j = 0; j < N; j++) {
        const bo = (s * N + j) * g.rmax;
        let acc = 0;
        for (let q = 0; q < r; q++) acc = f(acc + f(v[q]! * b[bo + q]!));
        outs[m]![i * N + j] = f(sc[s]! * acc);
      }
    });
  }
};

/** Each member's A and B as f32 views and its ranks (f32 copies made first, then the views). */
function memberAddrs(ctx: OpContext, attrs: LoraDeltaAttrs, inputs: readonly Tensor[]) {
  const addrs = Array.from({ length: attrs.count }, (_, m) => {
    const i = memberInputs(attrs, m);
    return { a: ctx.f32(inputs[i.a]!), b: ctx.f32(inputs[i.b]!), i };
  });
  return addrs.map(({ a, b, i }) => ({
    a: ctx.heap.f32(a, numel(inputs[i.a]!.shape)),
    b: ctx.heap.f32(b, numel(inputs[i.b]!.shape)),
    rank: ctx.heap.i32(ctx.addr(inputs[i.rank]!), inputs[i.rank]!.shape[0]!),
  }));
}

export const LORA_CPU_KERNELS: readonly CpuKernel[] = [
  { op: 'lora_bgmv', run: bgmv },
  { op: 'lora_sgmv', run: sgmv },
  { op: 'lora_delta', run: delta },
];
