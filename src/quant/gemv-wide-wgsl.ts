/**
 * Decode GEMV for the formats whose weights sit on 16-byte boundaries (w4, w8, q4_k), M ≤ 4.
 * Decode at batch 1 is bound by streaming the weights, so the kernel is built to keep many bytes
 * in flight and to spend few instructions per weight:
 *
 * - a workgroup owns R weight rows; each invocation takes a 32-weight chunk of every one of them
 *   per step (one `vec4<u32>` load a row for 4-bit codes, two for w8), issuing all R loads before
 *   the first use, and consecutive invocations take consecutive chunks (coalesced);
 * - the chunk's 32 activations are read once as `vec4<f32>` and used for all R rows;
 * - a code becomes an f32 without an integer-to-float conversion (a quarter-rate instruction on
 *   NVIDIA): OR-ing it into the mantissa of 2²³ gives 2²³ + q exactly. w4/w8 subtract 2²³ + z in the
 *   same instruction, exact because our quantizer's zero point is an integer (weight-only.ts); a
 *   fractional zero point would be handled too, its fraction f applied once per chunk as
 *   −f·Σ x. So the chunk's Σ (q − z)·x is the exact decoded weight times x, rounded per term, and
 *   the scale multiplies the chunk's sum once. Q4_K decodes d·sc·q − dmin·m per weight with one
 *   fused multiply-add (rounded once, as the other kernels do), since its offset is not an
 *   integer multiple of its step and Σ-then-scale would cancel where weights sit near zero.
 * - the R·M partial sums are reduced with `subgroupAdd` and one workgroup-memory step across
 *   subgroups where the device has subgroups, with a workgroup-memory tree otherwise.
 */
import type { QuantFormat } from './formats.js';
import { WEIGHT_ONLY_GROUP } from './formats.js';

export const WIDE_GEMV_FORMATS: readonly QuantFormat[] = ['w4', 'w8', 'q4_k'];
export const WIDE_GEMV_MAX_M = 4;
/** Weights an invocation takes from a row per step. */
export const WIDE_GEMV_CHUNK = 32;

/** Overrides for the benchmarks and the fallback's tests; null keeps the defaults. */
export const wideGemvTuning: { rows: number | null; threads: number | null; subgroups: boolean | null } = {
  rows: null,
  threads: null,
  subgroups: null,
};

export interface WideGemvParams {
  /** Weight rows per workgroup. */
  readonly R: number;
  /** Invocations per workgroup. */
  readonly W: number;
  /** Whether partial sums are reduced with subgroup operations. */
  readonly subgroups: boolean;
}

export const servesWide = (format: QuantFormat, m: number): boolean =>
  WIDE_GEMV_FORMATS.includes(format) && m >= 1 && m <= WIDE_GEMV_MAX_M;

/**
 * Rows per workgroup: 4 by default, 2 for matrices under 2048 rows (Llama-3-8B's K/V projections,
 * N = 1024), which would otherwise give fewer than four workgroups per SM on a 132-SM card.
 */
export function wideGemvParams(n: number, caps: { subgroups: boolean }): WideGemvParams {
  return {
    R: wideGemvTuning.rows ?? (n >= 2048 ? 4 : 2),
    W: wideGemvTuning.threads ?? 128,
    subgroups: wideGemvTuning.subgroups ?? caps.subgroups,
  };
}

/** 16-byte loads of one row's chunk (codes; Q4_K adds its block header, shared by 8 invocations). */
const codeLoads = (format: QuantFormat): number => (format === 'w8' ? 2 : 1);

/** What one call does at N × K: workgroups, steps, bytes each invocation, workgroup and SM has in flight. */
export interface WideGemvGeometry {
  readonly workgroups: number;
  readonly rowsPerWorkgroup: number;
  readonly threads: number;
  /** K-loop turns of the busiest invocation (chunks per row / threads, rounded up). */
  readonly steps: number;
  /** Weight code bytes one invocation loads per step before it uses any (R rows × 16-byte loads). */
  readonly bytesPerThreadStep: number;
  readonly bytesPerWorkgroupStep: number;
  /**
   * Code bytes requested and not yet used per SM while the first wave runs: the resident
   * workgroups (at most 2048 invocations and 32 workgroups an SM, as on the H100, registers
   * permitting) spread over `sms`, each one step's loads.
   */
  readonly bytesInFlightPerSm: number;
}

export function wideGemvGeometry(
  format: QuantFormat,
  n: number,
  k: number,
  p: WideGemvParams,
  sms = 132,
): WideGemvGeometry {
  const chunks = k / WIDE_GEMV_CHUNK;
  const bytesPerThreadStep = p.R * 16 * codeLoads(format);
  const workgroups = Math.ceil(n / p.R);
  const bytesPerWorkgroupStep = Math.min(chunks, p.W) * bytesPerThreadStep;
  const resident = Math.min(workgroups, sms * Math.min(32, Math.floor(2048 / p.W)));
  return {
    workgroups,
    rowsPerWorkgroup: p.R,
    threads: p.W,
    steps: Math.ceil(chunks / p.W),
    bytesPerThreadStep,
    bytesPerWorkgroupStep,
    bytesInFlightPerSm: Math.round((resident * bytesPerWorkgroupStep) / sms),
  };
}

const r = (n: number) => Array.from({ length: n }, (_, i) => i);

/** Four codes of `w` (a u32 expression) at bit offsets `shifts` as a vec4<f32>, 2²³ added, minus `sub`. */
function codes4(w: string, shifts: readonly number[], mask: number, sub: string): string {
  const lanes = shifts.map((s) => (s ? `${w} >> ${s}u` : w)).join(', ');
  return `(bitcast<vec4<f32>>((vec4<u32>(${lanes}) & vec4<u32>(${mask}u)) | vec4<u32>(0x4b000000u)) - ${sub})`;
}

const LANE = ['.x', '.y', '.z', '.w'];

/** w4/w8: Σ (q − zi)·x of one row's chunk (weights `wv(0)`, `wv(1)`, activations x{m}_0..7 in element order). */
function chunkDot(format: QuantFormat, m: number, wv: (i: number) => string, zc: string): string {
  if (format === 'w4') {
    // word i holds elements 8i..8i+7, element p at bits 4p
    return r(4)
      .map(
        (i) =>
          `dot(x${m}_${2 * i}, ${codes4(wv(0) + LANE[i], [0, 4, 8, 12], 15, zc)}) + dot(x${m}_${2 * i + 1}, ${codes4(wv(0) + LANE[i], [16, 20, 24, 28], 15, zc)})`,
      )
      .join(' + ');
  }
  // w8: two vec4 of 16 bytes, byte p of a word is element p
  return r(8)
    .map((i) => `dot(x${m}_${i}, ${codes4(wv(i >> 2) + LANE[i & 3], [0, 8, 16, 24], 255, zc)})`)
    .join(' + ');
}

/** Q4_K: Σ w·x of the low-nibble run (sub-block A, x{m}_0..3) and the high-nibble run (B, x{m}_4..7), w = d·sc·q − dmin·m. */
function q4kDots(m: number, w: string, j: number): [string, string] {
  const weights = (i: number, shifts: number[], s: 'a' | 'b') =>
    `fma(vec4<f32>(m${s}${j}.x), ${codes4(w + LANE[i], shifts, 15, '8388608.0')}, vec4<f32>(-m${s}${j}.y))`;
  const lo = r(4)
    .map((i) => `dot(x${m}_${i}, ${weights(i, [0, 8, 16, 24], 'a')})`)
    .join(' + ');
  const hi = r(4)
    .map((i) => `dot(x${m}_${i + 4}, ${weights(i, [4, 12, 20, 28], 'b')})`)
    .join(' + ');
  return [lo, hi];
}

const Q4K_HELPERS = /* wgsl */ `
// byte i of the 12 scale bytes (header words y, z, w)
fn kbyte(h: vec4<u32>, i: u32) -> u32 {
  return (select(select(h.y, h.z, i >= 4u), h.w, i >= 8u) >> ((i & 3u) * 8u)) & 255u;
}
// 6-bit scale and min of sub-block s (ggml's get_scale_min_k4), without branches: a warp's lanes
// take different sub-blocks
fn scale_min(h: vec4<u32>, s: u32) -> vec2<f32> {
  let lo = s < 4u;
  let a = kbyte(h, select(s + 4u, s, lo));
  let b = kbyte(h, select(s - 4u, s + 4u, lo));
  let c = kbyte(h, s);
  let sc = select((a & 15u) | ((b >> 6u) << 4u), a & 63u, lo);
  let mn = select((a >> 4u) | ((c >> 6u) << 4u), b & 63u, lo);
  return vec2<f32>(f32(sc), f32(mn));
}`;

/** The loads and the chunk's contribution to acc{m}_{j}, per format. */
function stepBody(format: QuantFormat, M: number, R: number): string {
  if (format === 'q4_k') {
    // chunk c: block c / 8; within it 16 bytes of codes (pair c % 8 / 2, half c % 2), whose low
    // nibbles are 16 weights of sub-block A = 2·pair and high nibbles the same 16 of sub-block B
    return `
    let b = c / 8u;
    let rc = c % 8u;
    let sa = (rc / 2u) * 2u;
    let ka = b * 256u + sa * 32u + (rc % 2u) * 16u;
${r(R)
  .map((j) => `    let h${j} = wq[rowv${j} + b * 9u];\n    let w${j} = wq[rowv${j} + b * 9u + 1u + rc];`)
  .join('\n')}
${r(M)
  .map(
    (m) =>
      `    let xa${m} = (${m}u * K + ka) / 4u;\n${r(8)
        .map((i) => `    let x${m}_${i} = x[xa${m} + ${i < 4 ? i : i + 4}u];`)
        .join('\n')}
`,
  )
  .join('\n')}
${r(R)
  .map(
    (j) => `    let dd${j} = unpack2x16float(h${j}.x);
    let ma${j} = scale_min(h${j}, sa) * dd${j};
    let mb${j} = scale_min(h${j}, sa + 1u) * dd${j};
${r(M)
  .map((m) => {
    const [lo, hi] = q4kDots(m, `w${j}`, j);
    return `    acc${m}_${j} += ${lo} + ${hi};`;
  })
  .join('\n')}`,
  )
  .join('\n')}`;
  }
  const w8 = format === 'w8';
  // codes: w4 K/32 vec4 a row (chunk c is vec4 c), w8 K/16 (chunk c is vec4 2c, 2c + 1); then the
  // scale plane, one u32 (f16 scale, f16 zero) per row and group of 128, four chunks a group
  return `
    let g0 = c / ${WEIGHT_ONLY_GROUP / WIDE_GEMV_CHUNK}u;
${r(R)
  .map((j) =>
    w8
      ? `    let w${j}a = wq[rowv${j} + 2u * c];\n    let w${j}b = wq[rowv${j} + 2u * c + 1u];`
      : `    let w${j}a = wq[rowv${j} + c];`,
  )
  .join('\n')}
${r(R)
  .map(
    (j) =>
      `    let gi${j} = row${j} * (K / ${WEIGHT_ONLY_GROUP}u) + g0;
    let sz${j} = unpack2x16float(wq[plane + gi${j} / 4u][gi${j} % 4u]);
    let zi${j} = round(sz${j}.y);
    let zc${j} = vec4<f32>(8388608.0 + zi${j});`,
  )
  .join('\n')}
${r(M)
  .map(
    (m) =>
      `    let xa${m} = (${m}u * K) / 4u + c * 8u;\n${r(8)
        .map((i) => `    let x${m}_${i} = x[xa${m} + ${i}u];`)
        .join('\n')}
    let sx${m} = dot(x${m}_0 + x${m}_1 + x${m}_2 + x${m}_3 + x${m}_4 + x${m}_5 + x${m}_6 + x${m}_7, vec4<f32>(1.0));`,
  )
  .join('\n')}
${r(R)
  .map((j) =>
    r(M)
      .map(
        (m) =>
          `    acc${m}_${j} = fma(sz${j}.x, fma(zi${j} - sz${j}.y, sx${m}, ${chunkDot(format, m, (h) => `w${j}${h ? 'b' : 'a'}`, `zc${j}`)}), acc${m}_${j});`,
      )
      .join('\n'),
  )
  .join('\n')}`;
}

/** Vec4 index of row `row`'s first 16 bytes (codes; Q4_K its first block). */
function rowStart(format: QuantFormat, row: string): string {
  if (format === 'q4_k') return `${row} * (K / 256u) * 9u`;
  return format === 'w8' ? `${row} * (K / 16u)` : `${row} * (K / 32u)`;
}

function reduction(M: number, R: number, W: number, sg: boolean): string {
  const n = M * R;
  const all = (f: (m: number, j: number) => string) =>
    r(M)
      .flatMap((m) => r(R).map((j) => f(m, j)))
      .join('\n');
  if (sg)
    return `
${all((m, j) => `  let s${m}_${j} = subgroupAdd(acc${m}_${j});`)}
  if (sgi == 0u) {
${all((m, j) => `    red[(t / sgs) * ${n}u + ${m * R + j}u] = s${m}_${j};`)}
  }
  workgroupBarrier();
  let parts = ${W}u / sgs;`;
  return `
${all((m, j) => `  red[t * ${n}u + ${m * R + j}u] = acc${m}_${j};`)}
  workgroupBarrier();
  for (var s = ${W / 2}u; s > 0u; s >>= 1u) {
    if (t < s) { for (var i = 0u; i < ${n}u; i++) { red[t * ${n}u + i] += red[(t + s) * ${n}u + i]; } }
    workgroupBarrier();
  }
  let parts = 1u;`;
}

export function quantGemvWideWgsl(format: QuantFormat, m: number, p: WideGemvParams): string {
  if (!servesWide(format, m))
    throw new Error(`the wide GEMV serves ${WIDE_GEMV_FORMATS.join(', ')} at M ≤ ${WIDE_GEMV_MAX_M}`);
  const { R, W, subgroups: sg } = p;
  const M = m;
  const n = M * R;
  // subgroups of at least 4 invocations (Vulkan, Metal and D3D12 all give ≥ 4)
  const redSize = sg ? n * Math.max(1, W / 4) : n * W;
  return `${sg ? 'enable subgroups;\n' : ''}
struct U { m: u32, n: u32, k: u32, gx: u32 }
@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> wq: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> u: U;
var<workgroup> red: array<f32, ${redSize}>;

${format === 'q4_k' ? Q4K_HELPERS : ''}

@compute @workgroup_size(${W})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32${sg ? ', @builtin(subgroup_invocation_id) sgi: u32, @builtin(subgroup_size) sgs: u32' : ''}) {
  let K = u.k;
  let N = u.n;
  let first = (wg.x + wg.y * u.gx) * ${R}u;
  // rows past N read the last row (their sums are not stored), so every invocation reaches the reduction
${r(R)
  .map((j) => `  let row${j} = min(first + ${j}u, N - 1u);\n  let rowv${j} = ${rowStart(format, `row${j}`)};`)
  .join('\n')}
  let plane = N * (${format === 'w8' ? 'K / 16u' : 'K / 32u'});
${r(M)
  .map((mm) =>
    r(R)
      .map((j) => `  var acc${mm}_${j} = 0.0;`)
      .join(' '),
  )
  .join('\n')}
  for (var c = t; c < K / ${WIDE_GEMV_CHUNK}u; c += ${W}u) {${stepBody(format, M, R)}
  }
${reduction(M, R, W, sg)}
  if (t < ${n}u) {
    let mi = t / ${R}u;
    let row = first + t % ${R}u;
    var v = 0.0;
    for (var s = 0u; s < parts; s++) { v += red[s * ${n}u + t]; }
    if (row < N) { y[mi * N + row] = v; }
  }
}
`;
}
