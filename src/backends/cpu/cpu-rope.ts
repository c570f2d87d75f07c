/** RoPE over the WebAssembly kernel, with the angle table computed in float64 here. */
import type { Tensor } from '../backend.js';
import { ROPE_MAX_POSITION, type RopeAttrs, ropeDims, ropeInvFreqs } from '../../ops/rope.js';
import type { OpContext, OpImpl } from './cpu-op-context.js';
import { dtypeCode } from './cpu-tensor.js';

/**
 * Rotate-half RoPE over T rows of H heads of D: x (dtype code xdt) to y (ydt), in place when they
 * are the same address (each pair is read before it is written).
 */
export function ropeRows(
  ctx: OpContext,
  a: RopeAttrs,
  x: number,
  xdt: number,
  y: number,
  ydt: number,
  positions: Tensor,
  dims: { T: number; H: number; D: number; rd: number },
): void {
  const { T, H, D, rd } = dims;
  const half = rd / 2;
  const inv = ropeInvFreqs(a.theta, rd, a.scaling);
  const pos = ctx.heap.i32(ctx.addr(positions), T);
  const cs = ctx.scratch(2 * T * half);
  const table = ctx.heap.f32(cs, 2 * T * half);
  // angles in float64: an f32 product p·inv would be off by up to ~0.01 rad at 128K positions
  for (let t = 0; t < T; t++) {
    const p = pos[t]!;
    if (!Number.isInteger(p) || p < 0 || p >= ROPE_MAX_POSITION)
      throw new RangeError(`rope: position ${p} at token ${t} is outside [0, 2^24)`);
    for (let i = 0; i < half; i++) {
      table[t * half + i] = Math.cos(p * inv[i]!);
      table[(T + t) * half + i] = Math.sin(p * inv[i]!);
    }
  }
  ctx.pool.run('rope', [x, xdt, y, ydt, cs, T, H, D, half], T * H, T * H * D * 4);
}

export const rope: OpImpl = (ctx, attrs, [x, positions], [y]) => {
  const dims = ropeDims(attrs as RopeAttrs, [x!, positions!]);
  ropeRows(
    ctx,
    attrs as RopeAttrs,
    ctx.addr(x!),
    dtypeCode(x!.dtype),
    ctx.addr(y!),
    dtypeCode(y!.dtype),
    positions!,
    dims,
  );
};
