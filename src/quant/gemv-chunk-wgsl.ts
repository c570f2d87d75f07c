/**
 * WGSL of one step of the chunked GEMV (gemv-chunked-wgsl.ts), per format: the loads of a
 * 32-weight chunk of each of the workgroup's R rows, the chunk's activations, and the chunk's
 * contribution to each accumulator `acc{m}_{j}` (activation row m, weight row j). The loop around
 * it names the chunk `c`, K `K`, the rows `row{j}` and their start `rowv{j}` (`rowStart`).
 *
 * Codes become f32 without an integer-to-float conversion (a quarter-rate instruction on NVIDIA):
 * a code OR-ed into the mantissa of 2²³ is 2²³ + q exactly, and subtracting 2²³ + z in the same
 * instruction gives q − z exactly where z is an integer: w4/w8's zero point (our quantizer's is an
 * integer; a fractional one's fraction f is applied once per chunk as −f·Σ x, in a branch), Q4_0's 8, Q8_0's
 * 128 (its i8 codes with the sign bit flipped) and Q6_K's 32. So for those formats the chunk sums
 * Σ (q − z)·x, each term the exact decoded weight's product rounded once, and the scale (f16, or
 * Q6_K's f16 · i8, exact in f32) multiplies the sum once. Q4_K's offset dmin·m is not an integer
 * multiple of its step d·sc, and Σ-then-scale would cancel where its weights sit near zero, so it
 * decodes d·sc·q − dmin·m per weight with one fused multiply-add (rounded once, as the other
 * kernels do).
 *
 * Loads: the 16-byte aligned formats (w4, w8, Q4_K) read `vec4<u32>`; the GGUF blocks of 34, 18
 * and 210 bytes sit at even byte offsets, so Q8_0, Q4_0 and Q6_K read u32 words and join each
 * neighbouring pair with a funnel shift.
 */
import type { QuantFormat } from './formats.js';
import { WEIGHT_ONLY_GROUP, quantLayout } from './formats.js';

/** Weights an invocation takes from a row per step. */
export const CHUNK = 32;

/** Whether the format's bytes are bound as `array<vec4<u32>>` (else `array<u32>`). */
export const vectorLoads = (format: QuantFormat): boolean => format === 'w4' || format === 'w8' || format === 'q4_k';

const r = (n: number) => Array.from({ length: n }, (_, i) => i);
const LANE = ['.x', '.y', '.z', '.w'];
const MAGIC = 8388608; // 2²³

/** Four codes of `w` (a u32 expression) at bit offsets `shifts` as a vec4<f32>, 2²³ added, minus `sub`. */
function codes4(w: string, shifts: readonly number[], mask: number, sub: string): string {
  const lanes = shifts.map((s) => (s ? `${w} >> ${s}u` : w)).join(', ');
  return `(bitcast<vec4<f32>>((vec4<u32>(${lanes}) & vec4<u32>(${mask}u)) | vec4<u32>(0x4b000000u)) - ${sub})`;
}

/** The 32 activations of row m from vec4 index `at` (element order), as x{m}_0..7. */
function activations(M: number, at: (m: number) => string, vec4Of: (i: number) => number = (i) => i): string {
  return r(M)
    .map(
      (m) =>
        `    let xa${m} = ${at(m)};\n${r(8)
          .map((i) => `    let x${m}_${i} = x[xa${m} + ${vec4Of(i)}u];`)
          .join('\n')}`,
    )
    .join('\n');
}

const sumAll = (m: number) =>
  r(8)
    .map((i) => `x${m}_${i}`)
    .join(' + ');

/** Per-(m, j) statements. */
const eachAcc = (M: number, R: number, f: (m: number, j: number) => string) =>
  r(R)
    .flatMap((j) => r(M).map((m) => `    ${f(m, j)}`))
    .join('\n');

function weightOnly(format: 'w4' | 'w8', M: number, R: number): string {
  const w8 = format === 'w8';
  // w4/w8 codes: element p of a u32 at bits 4p (w4) or 8p (w8); w4 word i = elements 8i..8i+7
  const dot = (m: number, j: number) =>
    w8
      ? r(8)
          .map(
            (i) =>
              `dot(x${m}_${i}, ${codes4(`w${j}${i < 4 ? 'a' : 'b'}${LANE[i & 3]}`, [0, 8, 16, 24], 255, `zc${j}`)})`,
          )
          .join(' + ')
      : r(4)
          .map(
            (i) =>
              `dot(x${m}_${2 * i}, ${codes4(`w${j}a${LANE[i]}`, [0, 4, 8, 12], 15, `zc${j}`)}) + dot(x${m}_${2 * i + 1}, ${codes4(`w${j}a${LANE[i]}`, [16, 20, 24, 28], 15, `zc${j}`)})`,
          )
          .join(' + ');
  // codes: w4 K/32 vec4 a row (chunk c is vec4 c), w8 K/16 (chunk c is vec4 2c, 2c + 1); then the
  // scale plane, one u32 (f16 scale, f16 zero) per row and group of 128, four chunks a group
  return `
    let g0 = c / ${WEIGHT_ONLY_GROUP / CHUNK}u;
${r(R)
  .map((j) =>
    w8
      ? `    let w${j}a = wq[rowv${j} + 2u * c];\n    let w${j}b = wq[rowv${j} + 2u * c + 1u];`
      : `    let w${j}a = wq[rowv${j} + c];`,
  )
  .join('\n')}
${r(R)
  .map(
    (j) => `    let gi${j} = row${j} * (K / ${WEIGHT_ONLY_GROUP}u) + g0;
    let sz${j} = unpack2x16float(wq[plane + gi${j} / 4u][gi${j} % 4u]);
    let zi${j} = round(sz${j}.y);
    let zc${j} = vec4<f32>(${MAGIC}.0 + zi${j});`,
  )
  .join('\n')}
${activations(M, (m) => `(${m}u * K) / 4u + c * 8u`)}
${eachAcc(
  M,
  R,
  (m, j) => `var d${m}_${j} = ${dot(m, j)};
    // a fractional zero point (never written by our quantizer): its fraction times the chunk's Σ x
    if (zi${j} != sz${j}.y) { d${m}_${j} = fma(zi${j} - sz${j}.y, dot(${sumAll(m)}, vec4<f32>(1.0)), d${m}_${j}); }
    acc${m}_${j} = fma(sz${j}.x, d${m}_${j}, acc${m}_${j});`,
)}`;
}

const Q4K_HELPERS = /* wgsl */ `
// 6-bit scales and mins of sub-blocks sa and sa + 1 (sa even) from the block header h (ggml's
// get_scale_min_k4 for both at once, on two bytes of a word): sub-blocks 0–3 keep theirs in the low
// 6 bits of scale bytes 0–3 (scales) and 4–7 (mins); 4–7 in the nibbles of bytes 8–11 with the top
// two bits in the high bits of bytes 0–3 and 4–7. Both forms are computed and one selected, since
// a warp's lanes take different sub-blocks. Returns (sc A, min A, sc B, min B).
fn scale_min2(h: vec4<u32>, sa: u32) -> vec4<f32> {
  let b = (sa & 3u) * 8u;
  let y = h.y >> b;
  let z = h.z >> b;
  let w = h.w >> b;
  let hi = sa >= 4u;
  let sc = select(y & 0x3f3fu, (w & 0x0f0fu) | ((y >> 2u) & 0x3030u), hi);
  let mn = select(z & 0x3f3fu, ((w >> 4u) & 0x0f0fu) | ((z >> 2u) & 0x3030u), hi);
  let v = (vec4<u32>(sc, mn, sc >> 8u, mn >> 8u) & vec4<u32>(0xffu)) | vec4<u32>(0x4b000000u);
  return bitcast<vec4<f32>>(v) - 8388608.0;
}`;

function q4k(M: number, R: number): string {
  // w = d·sc·q − dmin·m per weight: low nibbles (sub-block A, x{m}_0..3), high (B, x{m}_4..7)
  const weights = (j: number, i: number, shifts: number[], s: 'a' | 'b') =>
    `fma(vec4<f32>(m${s}${j}.x), ${codes4(`w${j}${LANE[i]}`, shifts, 15, `${MAGIC}.0`)}, vec4<f32>(-m${s}${j}.y))`;
  const dot = (m: number, j: number) =>
    r(4)
      .map(
        (i) =>
          `dot(x${m}_${i}, ${weights(j, i, [0, 8, 16, 24], 'a')}) + dot(x${m}_${i + 4}, ${weights(j, i, [4, 12, 20, 28], 'b')})`,
      )
      .join(' + ');
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
${activations(
  M,
  (m) => `(${m}u * K + ka) / 4u`,
  (i) => (i < 4 ? i : i + 4),
)}
${r(R)
  .map(
    (j) => `    let dd${j} = unpack2x16float(h${j}.x);
    let sm${j} = scale_min2(h${j}, sa);
    let ma${j} = sm${j}.xy * dd${j};
    let mb${j} = sm${j}.zw * dd${j};`,
  )
  .join('\n')}
${eachAcc(M, R, (m, j) => `acc${m}_${j} += ${dot(m, j)};`)}`;
}

const FUNNEL_HELPERS = /* wgsl */ `
// the u32 at byte offset 8·sh/8 into the pair (lo, hi); sh is 0 or 16 (fields at even offsets)
fn funnel(lo: u32, hi: u32, sh: u32) -> u32 { return select((lo >> sh) | (hi << (32u - sh)), lo, sh == 0u); }
// the f16 at even byte offset o
fn half_at(o: u32) -> f32 { return unpack2x16float(wq[o >> 2u] >> ((o & 2u) * 8u)).x; }`;

/** `n` u32 words from even byte offset `o` as `${name}0..n-1` (n + 1 aligned loads, funnel-shifted). */
function words(name: string, o: string, n: number): string {
  return `    let ${name}o = ${o};
    let ${name}s = (${name}o & 3u) * 8u;
${r(n + 1)
  .map((i) => `    let ${name}r${i} = wq[(${name}o >> 2u) + ${i}u];`)
  .join('\n')}
${r(n)
  .map((i) => `    let ${name}${i} = funnel(${name}r${i}, ${name}r${i + 1}, ${name}s);`)
  .join('\n')}`;
}

function q8_0(M: number, R: number): string {
  // block c: f16 d, then 32 i8 codes; flipping the sign bits makes them q + 128
  const dot = (m: number, j: number) =>
    r(8)
      .map(
        (i) =>
          `dot(x${m}_${i}, ${codes4(`(q${j}_${i} ^ 0x80808080u)`, [0, 8, 16, 24], 255, `vec4<f32>(${MAGIC + 128}.0)`)})`,
      )
      .join(' + ');
  return `
${r(R)
  .map((j) => `${words(`q${j}_`, `rowv${j} + c * 34u + 2u`, 8)}\n    let d${j} = half_at(rowv${j} + c * 34u);`)
  .join('\n')}
${activations(M, (m) => `(${m}u * K) / 4u + c * 8u`)}
${eachAcc(M, R, (m, j) => `acc${m}_${j} = fma(d${j}, ${dot(m, j)}, acc${m}_${j});`)}`;
}

function q4_0(M: number, R: number): string {
  // block c: f16 d, then 16 bytes; byte i holds element i (low nibble) and i + 16 (high), w = d·(q − 8)
  const sub = `vec4<f32>(${MAGIC + 8}.0)`;
  const dot = (m: number, j: number) =>
    r(4)
      .map(
        (i) =>
          `dot(x${m}_${i}, ${codes4(`q${j}_${i}`, [0, 8, 16, 24], 15, sub)}) + dot(x${m}_${i + 4}, ${codes4(`q${j}_${i}`, [4, 12, 20, 28], 15, sub)})`,
      )
      .join(' + ');
  return `
${r(R)
  .map((j) => `${words(`q${j}_`, `rowv${j} + c * 18u + 2u`, 4)}\n    let d${j} = half_at(rowv${j} + c * 18u);`)
  .join('\n')}
${activations(M, (m) => `(${m}u * K) / 4u + c * 8u`)}
${eachAcc(M, R, (m, j) => `acc${m}_${j} = fma(d${j}, ${dot(m, j)}, acc${m}_${j});`)}`;
}

function q6k(M: number, R: number): string {
  // chunk c: block c / 8, run c % 8 = 4·h + quarter of 32 weights; the low 4 bits of the run's codes
  // are 32 bytes of ql (at 64·h + 32·(quarter % 2), high nibbles where quarter ≥ 2), the high 2 bits
  // 32 bytes of qh (at 128 + 32·h, bits 2·quarter); i8 scales at 192 + 8·h + 2·quarter (first 16
  // weights) and the next byte; f16 d at 208. w = d·sc·(q − 32).
  const sub = `vec4<f32>(${MAGIC + 32}.0)`;
  const code = (j: number, i: number) =>
    `(((l${j}_${i} >> ls) & 0x0f0f0f0fu) | (((h${j}_${i} >> hs) & 0x03030303u) << 4u))`;
  const half = (m: number, j: number, from: number) =>
    r(4)
      .map((i) => `dot(x${m}_${from + i}, ${codes4(code(j, from + i), [0, 8, 16, 24], 63, sub)})`)
      .join(' + ');
  return `
    let ob = (c / 8u) * 210u;
    let h = (c % 8u) / 4u;
    let qt = c % 4u;
    let ls = select(0u, 4u, qt >= 2u);
    let hs = 2u * qt;
${r(R)
  .map(
    (j) => `${words(`l${j}_`, `rowv${j} + ob + h * 64u + (qt % 2u) * 32u`, 8)}
${words(`h${j}_`, `rowv${j} + ob + 128u + h * 32u`, 8)}
    let so${j} = rowv${j} + ob + 192u + h * 8u + 2u * qt;
    let sp${j} = wq[so${j} >> 2u] >> ((so${j} & 2u) * 8u);
    let dq${j} = half_at(rowv${j} + ob + 208u);
    let s0${j} = dq${j} * f32(bitcast<i32>(sp${j} << 24u) >> 24u);
    let s1${j} = dq${j} * f32(bitcast<i32>(sp${j} << 16u) >> 24u);`,
  )
  .join('\n')}
${activations(M, (m) => `(${m}u * K) / 4u + c * 8u`)}
${eachAcc(M, R, (m, j) => `acc${m}_${j} = fma(s0${j}, ${half(m, j, 0)}, fma(s1${j}, ${half(m, j, 4)}, acc${m}_${j}));`)}`;
}

/** Functions the step uses, declared once per shader. */
export function chunkHelpers(format: QuantFormat): string {
  if (format === 'q4_k') return Q4K_HELPERS;
  return vectorLoads(format) ? '' : FUNNEL_HELPERS;
}

/** The loads and the chunk's contribution to every accumulator. */
export function chunkStep(format: QuantFormat, M: number, R: number): string {
  switch (format) {
    case 'w4':
    case 'w8':
      return weightOnly(format, M, R);
    case 'q4_k':
      return q4k(M, R);
    case 'q8_0':
      return q8_0(M, R);
    case 'q4_0':
      return q4_0(M, R);
    case 'q6_k':
      return q6k(M, R);
  }
}

/**
 * Where row `row` starts: the vec4 index of its first 16 bytes for the vector formats (codes; Q4_K
 * its first block), its byte offset for the others.
 */
export function rowStart(format: QuantFormat, row: string): string {
  if (format === 'w4') return `${row} * (K / 32u)`;
  if (format === 'w8') return `${row} * (K / 16u)`;
  if (format === 'q4_k') return `${row} * (K / 256u) * 9u`;
  const { block, blockBytes } = quantLayout(format);
  return `${row} * (K / ${block}u) * ${blockBytes}u`;
}
