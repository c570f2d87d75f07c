/**
 * The GEMV kernel text (see gemv.ts for the plan), in pieces: bindings, the optional RMSNorm
 * prologue, the K loop (16-byte or scalar loads), the cross-lane reduction and the store.
 *
 * Fusions (the `linear` op): with `norm`, every workgroup first takes its M rows' Σx² over K (a
 * second read of a few KB of activations that stay in cache — cheaper than a dispatch and a round
 * trip through memory) and scales each activation by rsqrt(mean + eps)·w as it is loaded. With
 * `rope`, a workgroup owns rows {o, o+1} and {o+D/2, o+D/2+1} of one head, so each rotate-half
 * pair meets in one invocation after the reduction; the epilogue (bias) runs before the rotation.
 */
import type { Capabilities } from '../backends/webgpu/capabilities.js';
import { type MatmulPlan, outputWgsl, tailWord } from './matmul-common.js';
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
  if (f.normDtype) fused.push(storageDecl(binding++, 'nw', f.normDtype, caps, 'read'));
  if (f.ropeHeadDim) fused.push(storageDecl(binding++, 'pos', 'i32', caps, 'read'));
  const dtypes = [p.aDtype, p.bDtype, p.outDtype, ...p.extraDtypes, ...(f.normDtype ? [f.normDtype] : [])];
  return `${enables(dtypes, caps)}${caps.subgroups ? 'enable subgroups;\n' : ''}
${aDecl}
${bDecl}
${fused.join('\n')}
${outputWgsl(p, caps, binding)}`;
}

/** Sums `vals` (one f32 per row m) over the workgroup into `dst[m]`, using `red` as scratch. */
function workgroupSum(caps: Caps, W: number, M: number, vals: (m: number) => string, dst: string): string {
  if (caps.subgroups)
    return `
${r(M)
  .map((m) => `  let q${m} = subgroupAdd(${vals(m)});`)
  .join('\n')}
  if (sgi == 0u) { ${r(M)
    .map((m) => `red[(lid / sgs) * ${M}u + ${m}u] = q${m};`)
    .join(' ')} }
  workgroupBarrier();
  var ${dst}: array<f32, ${M}>;
  for (var s = 0u; s < ${W}u / sgs; s++) { for (var m = 0u; m < ${M}u; m++) { ${dst}[m] += red[s * ${M}u + m]; } }
  workgroupBarrier();`;
  return `
${r(M)
  .map((m) => `  red[lid * ${M}u + ${m}u] = ${vals(m)};`)
  .join('\n')}
  workgroupBarrier();
  for (var s = ${W / 2}u; s > 0u; s >>= 1u) {
    if (lid < s) { for (var m = 0u; m < ${M}u; m++) { red[lid * ${M}u + m] += red[(lid + s) * ${M}u + m]; } }
    workgroupBarrier();
  }
  var ${dst}: array<f32, ${M}>;
  for (var m = 0u; m < ${M}u; m++) { ${dst}[m] = red[m]; }
  workgroupBarrier();`;
}

/** The RMSNorm prologue: `rs[m]` = rsqrt(mean(a[m]²) + eps) for every row m of a. */
function normPrologue(p: MatmulPlan, caps: Caps, W: number, vec: boolean): string {
  const M = p.g.M;
  const loop = vec
    ? `for (var ch = lid; ch < K / 8u; ch += ${W}u) {
${r(M)
  .map((m) => `    { ${actChunk(p.aDtype, 'x', `${m}u * (K / 8u) + ch`)} ss${m} += dot(xlo, xlo) + dot(xhi, xhi); }`)
  .join('\n')}
  }`
    : `for (var k = lid; k < K; k += ${W}u) {
${r(M)
  .map((m) => `    { let x = ${loadF32(p.aDtype, caps, 'a', `${m}u * K + k`)}; ss${m} += x * x; }`)
  .join('\n')}
  }`;
  return `
${r(M)
  .map((m) => `  var ss${m} = 0.0;`)
  .join(' ')}
  ${loop}
${workgroupSum(caps, W, M, (m) => `ss${m}`, 'sq')}
  var rs: array<f32, ${M}>;
  for (var m = 0u; m < ${M}u; m++) { rs[m] = inverseSqrt(sq[m] / f32(K) + uf(${tailWord(p)}u)); }`;
}

/** The K loop: every lane strides over K accumulating R weight rows against the M activation rows. */
function kLoop(
  p: MatmulPlan,
  caps: Caps,
  t: GemvParams,
  f: GemvFusion,
  vec: boolean,
  rowOf: (j: number) => string,
): string {
  const { R, W } = t;
  const acc = (m: number, j: number) => `acc${m}_${j}`;
  const nw = (k: string) => loadF32(f.normDtype!, caps, 'nw', k);
  if (vec) {
    const weightChunk = (j: number) =>
      p.bDtype === 'f32'
        ? `let w${j}lo = b[2u * (rowc${j} + ch)]; let w${j}hi = b[2u * (rowc${j} + ch) + 1u];`
        : `let w${j}w = b[rowc${j} + ch]; let w${j}lo = ${unpack4(p.bDtype, `w${j}w.xy`)}; let w${j}hi = ${unpack4(p.bDtype, `w${j}w.zw`)};`;
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
        ? ` let ylo = xlo * rs[${m}] * nlo; let yhi = xhi * rs[${m}] * nhi;`
        : ' let ylo = xlo; let yhi = xhi;';
    return `
  let chunks = K / 8u;
${r(R)
  .map((j) => `  let rowc${j} = min(${rowOf(j)}, nCount - 1u) * chunks;`)
  .join('\n')}
  for (var ch = lid; ch < chunks; ch += ${W}u) {
${r(R)
  .map((j) => `    ${weightChunk(j)}`)
  .join('\n')}
${normChunk}
${r(p.g.M)
  .map(
    (m) => `    { ${actChunk(p.aDtype, 'x', `${m}u * chunks + ch`)}${scale(m)}
${r(R)
  .map((j) => `      ${acc(m, j)} += dot(ylo, w${j}lo) + dot(yhi, w${j}hi);`)
  .join('\n')} }`,
  )
  .join('\n')}
  }`;
  }
  const x = (m: number) => {
    const raw = loadF32(p.aDtype, caps, 'a', `${m}u * K + k`);
    return f.normDtype ? `${raw} * rs[${m}] * ${nw('k')}` : raw;
  };
  return `
${r(R)
  .map((j) => `  let rowk${j} = min(${rowOf(j)}, nCount - 1u) * K;`)
  .join('\n')}
  for (var k = lid; k < K; k += ${W}u) {
${r(R)
  .map((j) => `    let w${j} = ${loadF32(p.bDtype, caps, 'b', `rowk${j} + k`)};`)
  .join('\n')}
${r(p.g.M)
  .map(
    (m) => `    { let x = ${x(m)};
${r(R)
  .map((j) => `      ${acc(m, j)} = fma(x, w${j}, ${acc(m, j)});`)
  .join('\n')} }`,
  )
  .join('\n')}
  }`;
}

export { actChunk, declarations, kLoop, normPrologue, r as range };
