/**
 * The dense `attention` op for small heads (D ≤ 32, a multiple of 4, f32 Q/K/V/O): each thread owns
 * R query rows (strided by the workgroup's ROWS threads), their Q rows and output accumulators in
 * registers, and a workgroup of ROWS·R rows per head streams tiles of TILE keys (K and V, vec4s)
 * through workgroup memory.
 *
 * Why a second kernel: the general one (`dense-attention.ts`) shares a block of rows among 64
 * threads through workgroup memory, with four barriers and a serial per-row softmax per 16 keys
 * (B shrinks with D for large heads). At D = 16 that is a few FMAs per barrier and per
 * workgroup-memory access. Here every key costs a thread 2·D·R FMAs on broadcast vec4 reads (all
 * threads read the same key) and about four other instructions a row (max, subtract, exp2, sum),
 * one barrier pair per TILE keys, and the online softmax rescales the accumulators once per CHUNK
 * keys (one extra exp2 a row per chunk).
 *
 * Why R rows a thread: with one row, each key's K and V vec4s are read from workgroup memory for
 * 2·D FMAs; at D = 16 the reads, not the FMAs, set the pace (the H100 ran the de-raining filter's
 * 65536 × 65536 × 4-head attention at about 5 TFLOPS of f32, a tenth of its FMA rate). R rows reuse
 * each read R times. The WGSL is generated fully unrolled with named registers (no arrays indexed
 * by loop variables, which a compiler may leave in memory). R · D is kept ≤ 64 floats of Q (and as
 * many of accumulator) a thread, and R drops while the grid would leave SMs idle.
 *
 * Numerics: f32 throughout, scores q·k·scale computed as (q·scale·log2 e)·k with exp2; masked
 * scores contribute exactly 0; a row with no visible key (causal with T > S) writes zeros. With one
 * row a thread, chunks the row sees whole skip the mask; with more, every chunk masks per row (a
 * compare and a select a score), which keeps one copy of the unrolled chunk: shader compilers
 * (lavapipe's LLVM above all) take time that grows faster than the code.
 */
import type { TensorDesc } from '../backends/backend.js';

const ROWS = 64;
const TILE = 64;
const CHUNK = 8;
/** Q floats a thread holds at most (R · D): as many again of accumulator, CHUNK · R scores. */
const MAX_Q_FLOATS = 64;
/** Workgroups below which R is halved: about four a streaming multiprocessor of a large GPU. */
const MIN_WORKGROUPS = 512;

/** Whether the rows kernel runs this attention: f32 throughout and a small head (vec4 rows). */
export function denseRowsApplies(D: number, descs: readonly TensorDesc[]): boolean {
  return D <= 32 && D % 4 === 0 && descs.every((t) => t.dtype === 'f32');
}

/** Rows a thread: the most that fit MAX_Q_FLOATS, halved while the grid has fewer than MIN_WORKGROUPS. */
export function denseRowsPerThread(D: number, T: number, Hq: number): number {
  let r = 4;
  while (r > 1 && r * D > MAX_Q_FLOATS) r /= 2;
  while (r > 1 && Math.ceil(T / (ROWS * r)) * Hq < MIN_WORKGROUPS) r /= 2;
  return r;
}

/** Workgroups: (⌈T / (ROWS · R)⌉, Hq). */
export function denseRowsGrid(T: number, Hq: number, R = 1): [number, number] {
  return [Math.ceil(T / (ROWS * R)), Hq];
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);
/** Four consecutive floats of storage array `a` from `off` (an expression) as a vec4. */
const load4 = (a: string, off: string) =>
  `vec4<f32>(${a}[${off}], ${a}[${off} + 1u], ${a}[${off} + 2u], ${a}[${off} + 3u])`;

/**
 * One chunk of CHUNK keys for the thread's R rows: scores as vec4 FMAs (each key's vec4s read once
 * for all rows), each row's running max, one rescale of its accumulator, then P·V (each value vec4
 * read once for all rows). `masked`: keys at or past a row's `rowEnd` score −∞ and contribute
 * exactly 0 (no reliance on exp2(−∞)).
 */
function chunk(D4: number, R: number, masked: boolean): string {
  const out: string[] = [];
  for (const jj of range(CHUNK)) {
    out.push(`{ let j = j0 + ${jj}u;`);
    for (const c of range(D4)) out.push(`  let kc${c} = ks[j * D4 + ${c}u];`);
    for (const i of range(R)) {
      // four independent FMA chains of D/4 terms each, summed pairwise
      const fmas = range(D4).reduce((acc, c) => `fma(q${i}_${c}, kc${c}, ${acc})`, 'vec4<f32>(0.0)');
      out.push(`  let qk${i} = ${fmas};`);
      const qk = `(qk${i}.x + qk${i}.y) + (qk${i}.z + qk${i}.w)`;
      out.push(`  s${i}_${jj} = ${masked ? `select(ninf(), ${qk}, k0 + j < rowEnd${i})` : qk};`);
      out.push(`  mc${i} = max(mc${i}, s${i}_${jj});`);
    }
    out.push('}');
  }
  for (const i of range(R)) {
    out.push(`{ let alpha = select(0.0, exp2(m${i} - mc${i}), m${i} > ninf());`);
    out.push(`  l${i} *= alpha;`);
    for (const c of range(D4)) out.push(`  a${i}_${c} *= alpha;`);
    out.push('}');
  }
  for (const jj of range(CHUNK)) {
    out.push(`{ let j = j0 + ${jj}u;`);
    for (const c of range(D4)) out.push(`  let vc${c} = vs[j * D4 + ${c}u];`);
    for (const i of range(R)) {
      const p = masked ? `select(0.0, exp2(s${i}_${jj} - mc${i}), s${i}_${jj} > ninf())` : `exp2(s${i}_${jj} - mc${i})`;
      out.push(`  let p${i} = ${p};`);
      out.push(`  l${i} += p${i};`);
      for (const c of range(D4)) out.push(`  a${i}_${c} = fma(vec4<f32>(p${i}), vc${c}, a${i}_${c});`);
    }
    out.push('}');
  }
  for (const i of range(R)) out.push(`m${i} = mc${i};`);
  return out.join('\n        ');
}

/** Bindings, constants and the key/value tiles of the kernel. */
function denseRowsDecls(D: number, D4: number): string {
  return `@group(0) @binding(0) var<storage, read> q: array<f32>;
@group(0) @binding(1) var<storage, read> k: array<f32>;
@group(0) @binding(2) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<storage, read_write> o: array<f32>;
@group(0) @binding(4) var<uniform> u: array<vec4<u32>, 2>;

const D = ${D}u;
const D4 = ${D4}u;
const ROWS = ${ROWS}u;
const TILE = ${TILE}u;
var<workgroup> ks: array<vec4<f32>, ${TILE * D4}>;
var<workgroup> vs: array<vec4<f32>, ${TILE * D4}>;
// -inf as a runtime value (WGSL rejects infinities in constant expressions)
var<private> ninf_bits: u32 = 0xff800000u;
fn ninf() -> f32 { return bitcast<f32>(ninf_bits); }`;
}

/** Row i of the thread: its index, Q registers (scaled), accumulators, softmax state and key bound. */
function rowSetup(D4: number, i: number): string {
  const lines = [
    `let qi${i} = q0 + lid + ${i * ROWS}u;`,
    `let live${i} = qi${i} < T;`,
    `let qbase${i} = (qi${i} * Hq + h) * D;`,
  ];
  for (const c of range(D4)) {
    lines.push(`var q${i}_${c} = vec4<f32>(0.0);`);
    lines.push(`if (live${i}) { q${i}_${c} = ${load4('q', `qbase${i} + ${4 * c}u`)} * qscale; }`);
    lines.push(`var a${i}_${c} = vec4<f32>(0.0);`);
  }
  lines.push(
    `var m${i} = ninf();`,
    `var l${i} = 0.0;`,
    // keys this row sees: all S, or (causal) those ≤ qi + S − T, written without unsigned underflow
    `var rowEnd${i} = S;`,
    `if (causal) { rowEnd${i} = min(S, select(0u, qi${i} + 1u + S - T, qi${i} + 1u + S > T)); }`,
  );
  return lines.join('\n  ');
}

function rowStore(D4: number, i: number): string {
  const lines = [`if (live${i}) {`];
  for (const c of range(D4)) {
    lines.push(`  { let r = select(vec4<f32>(0.0), a${i}_${c} / l${i}, l${i} > 0.0);`);
    lines.push(`    let at = qbase${i} + ${4 * c}u;`);
    lines.push('    o[at] = r.x; o[at + 1u] = r.y; o[at + 2u] = r.z; o[at + 3u] = r.w; }');
  }
  lines.push('}');
  return lines.join('\n  ');
}

export function denseRowsWgsl(D: number, R = 1): string {
  const D4 = D / 4;
  const rows = range(R);
  const scores = rows.flatMap((i) => range(CHUNK).map((jj) => `var s${i}_${jj}: f32;`)).join('\n      ');
  return `${denseRowsDecls(D, D4)}
@compute @workgroup_size(${ROWS})
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let T = u[0].x;
  let S = u[0].y;
  let Hq = u[0].z;
  let Hk = u[0].w;
  let causal = u[1].x != 0u;
  let scale = bitcast<f32>(u[1].y);
  let q0 = wid.x * ${ROWS * R}u;
  let h = wid.y;
  let kh = h / (Hq / Hk);
  // scores in units of log2: Q scaled once by scale·log2(e), then exp2
  let qscale = scale * 1.4426950408889634;
  ${rows.map((i) => rowSetup(D4, i)).join('\n  ')}
  // the keys any row of the workgroup sees
  var kend = S;
  if (causal) {
    let last = min(q0 + ${ROWS * R}u, T) + S;
    kend = min(S, select(0u, last - T, last > T));
  }
  ${R === 1 ? 'let fullEnd = rowEnd0;' : ''}
  for (var k0 = 0u; k0 < kend; k0 += TILE) {
    workgroupBarrier();
    for (var e = lid; e < TILE * D4; e += ROWS) {
      let j = e / D4;
      var kv = vec4<f32>(0.0);
      var vv = vec4<f32>(0.0);
      if (k0 + j < S) {
        let off = ((k0 + j) * Hk + kh) * D + 4u * (e % D4);
        kv = ${load4('k', 'off')};
        vv = ${load4('v', 'off')};
      }
      ks[e] = kv;
      vs[e] = vv;
    }
    workgroupBarrier();
    let n = min(TILE, kend - k0);
    for (var j0 = 0u; j0 < n; j0 += ${CHUNK}u) {
      ${scores}
      ${rows.map((i) => `var mc${i} = m${i};`).join('\n      ')}
      ${
        R === 1
          ? `if (k0 + j0 + ${CHUNK}u <= fullEnd) {
        ${chunk(D4, R, false)}
      } else {
        ${chunk(D4, R, true)}
      }`
          : chunk(D4, R, true)
      }
    }
  }
  ${rows.map((i) => rowStore(D4, i)).join('\n  ')}
}`;
}
