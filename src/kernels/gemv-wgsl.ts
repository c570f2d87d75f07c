/**
 * The GEMV kernel text (see gemv.ts for the plan), in pieces: bindings, the optional RMSNorm
 * prologue, the K loop (16-byte or scalar loads), the cross-lane reduction and the store.
 *
 * Fusions (the `linear` op): with `norm`, each activation is scaled by the norm weight as it is
 * loaded and the row's Σx² is summed in the same loop, from the same loads, as one more
 * accumulator; since rsqrt(mean + eps) is one number per row it multiplies the reduced sums at the
 * end. So the prologue costs no extra pass over the rows and no dispatch. With
 * `rope`, a workgroup owns rows {o, o+1} and {o+D/2, o+D/2+1} of one head, so each rotate-half
 * pair meets in one invocation after the reduction; the epilogue (bias) runs before the rotation.
 */
import type { Capabilities } from '../backends/webgpu/capabilities.js';
import { type MatmulPlan, outputWgsl } from './matmul-common.js';
import type { DType } from '../tensor/dtype.js';
import { enables, loadF32, storageDecl } from './wgsl-dtype.js';

type Caps = Pick<Capabilities, 'f16' | 'subgroups'>;

export interface GemvParams {
  /** Weight rows per workgroup (even: outputs are written in adjacent pairs). */
  readonly R: number;
  /** Invocations per workgroup. */
  readonly W: number;
}

/** What a `linear` call fuses into the GEMV; absent for a plain matmul. */
export interface GemvFusion {
  /** dtype of a second weight (bound after b) whose rows are multiplied alongside: the epilogue's x1. */
  readonly pairDtype?: DType;
  /** dtype of the RMSNorm weight (bound after b) when the prologue normalises a's rows. */
  readonly normDtype?: DType;
  /** Head dim when RoPE rotates the output (positions bound after the norm weight). */
  readonly ropeHeadDim?: number;
}

/** Uniform words the fusion adds after the matmul's: eps, D/2, two spare, then RoPE's frequency triples. */
export function gemvTailWords(f: GemvFusion): number {
  return 4 + (f.ropeHeadDim ? 3 * (f.ropeHeadDim / 2) : 0);
}

/** The vector path needs rows that start on 16-byte boundaries in both operands. */
export function gemvVectorised(K: number): boolean {
  return K % 8 === 0;
}

const r = (n: number) => Array.from({ length: n }, (_, i) => i);

/** Four halves from two u32 words (vec2<u32> expression) as vec4<f32>. */
function unpack4(d: DType, w: string): string {
  if (d === 'f16') return `vec4<f32>(unpack2x16float(${w}.x), unpack2x16float(${w}.y))`;
  // bf16: the high half is already an f32 with a truncated mantissa; the low half moves up
  return `vec4<f32>(bitcast<f32>(${w}.x << 16u), bitcast<f32>(${w}.x & 0xffff0000u), bitcast<f32>(${w}.y << 16u), bitcast<f32>(${w}.y & 0xffff0000u))`;
}

/** WGSL for 8 consecutive activations of row `m` from chunk `ch` as two vec4<f32> named `${name}lo/hi`. */
function actChunk(d: DType, name: string, idx: string): string {
  if (d === 'f32') return `let ${name}lo = a[2u * (${idx})]; let ${name}hi = a[2u * (${idx}) + 1u];`;
  return `let ${name}w = a[${idx}]; let ${name}lo = ${unpack4(d, `${name}w.xy`)}; let ${name}hi = ${unpack4(d, `${name}w.zw`)};`;
}

function declarations(p: MatmulPlan, caps: Caps, f: GemvFusion, vec: boolean): string {
  const vecType = (d: DType) => (d === 'f32' ? 'vec4<f32>' : 'vec4<u32>');
  const aDecl = vec
    ? `@group(0) @binding(0) var<storage, read> a: array<${vecType(p.aDtype)}>;`
    : storageDecl(0, 'a', p.aDtype, caps, 'read');
  const bDecl = vec
    ? `@group(0) @binding(1) var<storage, read> b: array<${vecType(p.bDtype)}>;`
    : storageDecl(1, 'b', p.bDtype, caps, 'read');
  let binding = 2;
  const fused: string[] = [];
  if (f.pairDtype)
    fused.push(
      vec
        ? `@group(0) @binding(${binding++}) var<storage, read> b2: array<${vecType(f.pairDtype)}>;`
        : storageDecl(binding++, 'b2', f.pairDtype, caps, 'read'),
    );
  if (f.normDtype) fused.push(storageDecl(binding++, 'nw', f.normDtype, caps, 'read'));
  if (f.ropeHeadDim) fused.push(storageDecl(binding++, 'pos', 'i32', caps, 'read'));
  const own = [f.normDtype, f.pairDtype].filter((d): d is DType => d !== undefined);
  const dtypes = [p.aDtype, p.bDtype, p.outDtype, ...p.extraDtypes, ...own];
  return `${enables(dtypes, caps)}${caps.subgroups ? 'enable subgroups;\n' : ''}
${aDecl}
${bDecl}
${fused.join('\n')}
${outputWgsl(p, caps, binding, f.pairDtype !== undefined)}`;
}

/** With the norm prologue: WGSL setting `rs` = rsqrt(mean(a[m]²) + eps) from the Σx² slot `slot` of row m. */
export function normScaleWgsl(slots: number, slot: number, epsWord: number): string {
  return `let rs = inverseSqrt(red_sum(m * ${slots}u + ${slot}u, nsg) / f32(K) + uf(${epsWord}u));`;
}

/** Accumulators per activation row: R weight rows, twice with a paired weight. */
export function accumulators(t: GemvParams, f: GemvFusion): number {
  return f.pairDtype ? 2 * t.R : t.R;
}

/**
 * Lanes per workgroup such that the cross-lane reduction's workgroup memory fits: with subgroups
 * one slot per subgroup and value, without them one per lane and value (M rows × `slots` each).
 */
export function lanesThatFit(
  W: number,
  M: number,
  slotsPerRow: number,
  caps: Pick<Capabilities, 'subgroups' | 'maxComputeWorkgroupStorageSize'>,
): number {
  const bytes = (w: number) => 4 * M * slotsPerRow * (caps.subgroups ? w / 4 : w);
  let w = W;
  while (w > 32 && bytes(w) > caps.maxComputeWorkgroupStorageSize) w /= 2;
  return w;
}

/** Reduced values per activation row: the accumulators, and the row's Σx² with the norm prologue. */
export function slots(t: GemvParams, f: GemvFusion): number {
  return accumulators(t, f) + (f.normDtype ? 1 : 0);
}

/** Weight buffer, dtype and row slot of accumulator j (the paired weight's follow the first R). */
function weightOf(p: MatmulPlan, t: GemvParams, f: GemvFusion, j: number): { buf: string; dtype: DType; row: number } {
  return j < t.R ? { buf: 'b', dtype: p.bDtype, row: j } : { buf: 'b2', dtype: f.pairDtype!, row: j - t.R };
}

/** The 16-byte K loop: lanes stride over chunks of 8, each weight chunk used against every row. */
function vecLoop(p: MatmulPlan, caps: Caps, t: GemvParams, f: GemvFusion, rowOf: (j: number) => string): string {
  const A = accumulators(t, f);
  const nw = (k: string) => loadF32(f.normDtype!, caps, 'nw', k);
  const weightChunk = (j: number) => {
    const { buf, dtype, row } = weightOf(p, t, f, j);
    return dtype === 'f32'
      ? `let w${j}lo = ${buf}[2u * (rowc${row} + ch)]; let w${j}hi = ${buf}[2u * (rowc${row} + ch) + 1u];`
      : `let w${j}w = ${buf}[rowc${row} + ch]; let w${j}lo = ${unpack4(dtype, `w${j}w.xy`)}; let w${j}hi = ${unpack4(dtype, `w${j}w.zw`)};`;
  };
  const normChunk = f.normDtype
    ? `    let nlo = vec4<f32>(${r(4)
        .map((i) => nw(`8u * ch + ${i}u`))
        .join(', ')});
    let nhi = vec4<f32>(${r(4)
      .map((i) => nw(`8u * ch + ${i + 4}u`))
      .join(', ')});`
    : '';
  const scale = (m: number) =>
    f.normDtype
      ? ` let ylo = xlo * nlo; let yhi = xhi * nhi; acc${m}_${A} += dot(xlo, xlo) + dot(xhi, xhi);`
      : ' let ylo = xlo; let yhi = xhi;';
  return `
  let chunks = K / 8u;
${r(t.R)
  .map((j) => `  let rowc${j} = min(${rowOf(j)}, nCount - 1u) * chunks;`)
  .join('\n')}
  for (var ch = lid; ch < chunks; ch += ${t.W}u) {
${r(A)
  .map((j) => `    ${weightChunk(j)}`)
  .join('\n')}
${normChunk}
${r(p.g.M)
  .map(
    (m) => `    { ${actChunk(p.aDtype, 'x', `${m}u * chunks + ch`)}${scale(m)}
${r(A)
  .map((j) => `      acc${m}_${j} += dot(ylo, w${j}lo) + dot(yhi, w${j}hi);`)
  .join('\n')} }`,
  )
  .join('\n')}
  }`;
}

/** The scalar K loop (K not a multiple of 8). */
function scalarLoop(p: MatmulPlan, caps: Caps, t: GemvParams, f: GemvFusion, rowOf: (j: number) => string): string {
  const A = accumulators(t, f);
  // with the norm: x scaled by the norm weight, and the raw value's square into the Σx² slot
  const x = (m: number) => {
    const raw = `let xr = ${loadF32(p.aDtype, caps, 'a', `${m}u * K + k`)};`;
    if (!f.normDtype) return `${raw} let x = xr;`;
    return `${raw} let x = xr * ${loadF32(f.normDtype, caps, 'nw', 'k')}; acc${m}_${A} = fma(xr, xr, acc${m}_${A});`;
  };
  const weight = (j: number) => {
    const { buf, dtype, row } = weightOf(p, t, f, j);
    return `    let w${j} = ${loadF32(dtype, caps, buf, `rowk${row} + k`)};`;
  };
  return `
${r(t.R)
  .map((j) => `  let rowk${j} = min(${rowOf(j)}, nCount - 1u) * K;`)
  .join('\n')}
  for (var k = lid; k < K; k += ${t.W}u) {
${r(A).map(weight).join('\n')}
${r(p.g.M)
  .map(
    (m) => `    { ${x(m)}
${r(A)
  .map((j) => `      acc${m}_${j} = fma(x, w${j}, acc${m}_${j});`)
  .join('\n')} }`,
  )
  .join('\n')}
  }`;
}

/** The K loop: every lane strides over K accumulating the weight rows against the M activation rows. */
function kLoop(
  p: MatmulPlan,
  caps: Caps,
  t: GemvParams,
  f: GemvFusion,
  vec: boolean,
  rowOf: (j: number) => string,
): string {
  return vec ? vecLoop(p, caps, t, f, rowOf) : scalarLoop(p, caps, t, f, rowOf);
}

/** `turns(q, i)`: pos·f mod 1 in [−0.5, 0.5] from exact partial products, as the rope kernel (src/kernels/rope.ts); frequency triples from uniform word `base`. */
export function ropeTurnsWgsl(base: number): string {
  return `fn turns(q: u32, i: u32) -> f32 {
  let h1 = uf(${base}u + 3u * i);
  let h0 = uf(${base + 1}u + 3u * i);
  let lo = uf(${base + 2}u + 3u * i);
  let p1 = f32(q >> 12u) * 4096.0;
  let p0 = f32(q & 4095u);
  let t = fract(p1 * h1) + fract(p1 * h0) + fract(p0 * h1) + fract(p0 * h0) + fract(f32(q) * lo);
  return t - round(t);
}`;
}

export { actChunk, unpack4, declarations, kLoop, r as range };
