/**
 * `rope` (rotate-half): each invocation writes one stored output word. Angles: the host splits
 * f = invfreq/2π (float64) into f32 pieces h1 + h0 + lo, h1 and h0 of ≤ 12 significant bits, and
 * the position into p1·4096 + p0; every partial product is then exact in f32, so pos·f mod 1 is
 * taken exactly and sin/cos only ever see arguments in [−π, π].
 */
import type { Attrs, TensorDesc } from '../backends/backend.js';
import type { Capabilities } from '../backends/webgpu/capabilities.js';
import { type RopeAttrs, ropeDims, ropeInvFreqs } from '../ops/rope.js';
import { type DType } from '../tensor/dtype.js';
import { grid2d } from './elementwise.js';
import type { GpuKernel } from '../backends/webgpu/kernel.js';
import { PACK_WGSL, elemsPerWord, enables, loadF32, storageDecl, storeWord, uniformDecl } from './wgsl-dtype.js';

const WG = 256;
/** Uniform words before the per-frequency triples: total, words, D, H, rd/2, pad×3. */
const HEAD = 8;

/** Per-frequency uniform words [h1, h0, lo] (as f32 bits) for the exact angle reduction. */
export function ropeFreqWords(inv: Float64Array): Uint32Array {
  const f = new Float32Array(inv.length * 3);
  const bits = new Uint32Array(f.buffer);
  for (let i = 0; i < inv.length; i++) {
    const turns = inv[i]! / (2 * Math.PI);
    const hi = Math.fround(turns);
    f[3 * i] = hi;
    bits[3 * i] = bits[3 * i]! & 0xfffff000; // keep 12 of the 24 significand bits
    f[3 * i + 1] = hi - f[3 * i]!; // exact: the dropped low bits
    f[3 * i + 2] = Math.fround(turns - hi);
  }
  return bits;
}

/** `xDtype` other than the output's serves fused callers whose unrotated values are f32. */
export function ropeWgsl(dtype: DType, halfRd: number, caps: Pick<Capabilities, 'f16'>, xDtype = dtype): string {
  const per = elemsPerWord(dtype, caps);
  const lanes = Array.from({ length: per }, (_, j) => `v${j}`);
  const x = (i: string) => loadF32(xDtype, caps, 'x', i);
  return `${enables([dtype, xDtype], caps)}
${storageDecl(0, 'x', xDtype, caps, 'read')}
${storageDecl(1, 'pos', 'i32', caps, 'read')}
${storageDecl(2, 'y', dtype, caps, 'read_write')}
${uniformDecl(3, HEAD + 3 * halfRd)}
${PACK_WGSL}
// pos·f mod 1 in [−0.5, 0.5], from exact partial products (each ≤ 24 significant bits)
fn turns(p: u32, i: u32) -> f32 {
  let h1 = uf(${HEAD}u + 3u * i);
  let h0 = uf(${HEAD + 1}u + 3u * i);
  let lo = uf(${HEAD + 2}u + 3u * i);
  let p1 = f32(p >> 12u) * 4096.0;
  let p0 = f32(p & 4095u);
  let t = fract(p1 * h1) + fract(p1 * h0) + fract(p0 * h1) + fract(p0 * h0) + fract(f32(p) * lo);
  return t - round(t);
}
fn rotated(e: u32) -> f32 {
  let D = uw(2u);
  let half = uw(4u);
  let row = e / D;
  let d = e - row * D;
  if (d >= 2u * half) { return ${x('e')}; }
  let t = row / uw(3u);
  let p = pos[t];
  let i = select(d - half, d, d < half);
  // positions are ≥ 0 by contract; a negative one rotates backwards (angle is odd in p)
  let r = turns(u32(abs(p)), i) * select(1.0, -1.0, p < 0);
  let a = r * 6.28318530717958647;
  let c = cos(a);
  let s = sin(a);
  if (d < half) { return ${x('e')} * c - ${x('e + half')} * s; }
  return ${x('e')} * c + ${x('e - half')} * s;
}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let word = gid.x + gid.y * nwg.x * ${WG}u;
  if (word >= uw(1u)) { return; }
  let total = uw(0u);
  ${lanes.map((v, j) => `var ${v} = 0.0; if (word * ${per}u + ${j}u < total) { ${v} = rotated(word * ${per}u + ${j}u); }`).join('\n  ')}
  ${storeWord(dtype, caps, 'y', 'word', lanes)}
}`;
}

export const ropeKernel: GpuKernel = {
  op: 'rope',
  whyUnsupported(_caps: Capabilities, attrs: Attrs, inputs: readonly TensorDesc[]) {
    try {
      ropeDims(attrs as RopeAttrs, inputs);
      return null;
    } catch (e) {
      return (e as Error).message;
    }
  },
  encode(ctx, rawAttrs, [x, pos], [y]) {
    const attrs = rawAttrs as RopeAttrs;
    const { T, H, D, rd } = ropeDims(attrs, [x!, pos!]);
    const total = T * H * D;
    const words = Math.ceil(total / elemsPerWord(y!.dtype, ctx.caps));
    const u = new Uint32Array(HEAD + 3 * (rd / 2));
    u.set([total, words, D, H, rd / 2]);
    u.set(ropeFreqWords(ropeInvFreqs(attrs.theta, rd, attrs.scaling)), HEAD);
    const label = `rope.${y!.dtype}${x!.dtype === y!.dtype ? '' : `.${x!.dtype}`}.rd${rd}`;
    ctx.dispatch(
      {
        label,
        key: label,
        wgsl: () => ropeWgsl(y!.dtype, rd / 2, ctx.caps, x!.dtype),
        access: ['read', 'read', 'rw', 'uniform'],
      },
      [x!, pos!, y!],
      u,
      grid2d(Math.ceil(words / WG), ctx.caps.maxComputeWorkgroupsPerDimension),
    );
  },
};
