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

export const LORA_CPU_KERNELS: readonly CpuKernel[] = [
  { op: 'lora_bgmv', run: bgmv },
  { op: 'lora_sgmv', run: sgmv },
];
