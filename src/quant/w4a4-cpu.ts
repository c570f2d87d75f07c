/**
 * The Atom W4A4 ops (w4a4-ops.ts) on the CPU backend, both in WebAssembly SIMD
 * (src/backends/cpu/wasm/w4a4.ts), split by rows across the pool:
 * - `atom_quantize`: one token per kernel row: the prologue (RMSNorm or SiLU·mul) and the channel
 *   gather computed on the fly, per group absmax / qmax, codes rounded half to even, all in f32.
 * - `atom_matmul`: the activation codes laid out once in the weights' nibble-lane order, then per
 *   weight row and activation row each group's integer dot in i32 lanes (exact), scaled by
 *   scale_x · scale_w in f32 and summed over the groups in f32, as the WebGPU kernels do.
 */
import type { CpuKernel } from '../backends/cpu/cpu-kernel-registry.js';
import type { OpImpl } from '../backends/cpu/cpu-op-context.js';
import { ATOM_PROLOGUES, type AtomQuantizeAttrs, atomMatmulGeometry, atomQuantizeGeometry } from './w4a4-ops.js';
import { groupsOf, w4a4Planes } from './w4a4-format.js';

const quantize: OpImpl = (ctx, attrs, inputs, [q, s]) => {
  const a = attrs as AtomQuantizeAttrs;
  const { m, k } = atomQuantizeGeometry(attrs, inputs);
  const kind = ATOM_PROLOGUES.indexOf(a.prologue);
  const second = kind > 0 ? ctx.addr(inputs[1]!) : 0;
  const perm = a.reordered ? ctx.addr(inputs[inputs.length - 1]!) : 0;
  ctx.pool.run(
    'atomQuantize',
    [ctx.addr(inputs[0]!), second, perm, kind, a.eps ?? 0, ctx.addr(q!), ctx.addr(s!), k],
    m,
    m * k * (kind === 2 ? 24 : 6),
  );
};

const matmul: OpImpl = (ctx, attrs, [xq, xs, w], [y]) => {
  const { m, n, k } = atomMatmulGeometry(attrs, [xq!, xs!, w!]);
  // i8 codes in lane order: m · k bytes, scratch counts f32 elements
  const xp = ctx.scratch(Math.ceil((m * k) / 4));
  ctx.pool.run('atomLaneOrder', [ctx.addr(xq!), xp, k], m, m * k);
  const { codes8, scales } = w4a4Planes(n, k);
  ctx.pool.run(
    'atomMatmul',
    [xp, ctx.addr(xs!), ctx.addr(w!), codes8, scales, ctx.addr(y!), m, n, k],
    n,
    m * n * (k + 4 * groupsOf(k)),
  );
};

export const ATOM_CPU_KERNELS: readonly CpuKernel[] = [
  { op: 'atom_quantize', run: quantize },
  { op: 'atom_matmul', run: matmul },
];
