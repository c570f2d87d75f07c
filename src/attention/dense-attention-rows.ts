/**
 * The dense `attention` op for small heads (D ≤ 32, a multiple of 4, f32 Q/K/V/O): one thread per
 * query row, its Q row and output accumulator in registers, a workgroup of ROWS rows per head
 * streaming tiles of TILE keys (K and V, vec4s) through workgroup memory.
 *
 * Why a second kernel: the general one (`dense-attention.ts`) shares a block of rows among 64
 * threads through workgroup memory, with four barriers and a serial per-row softmax per 16 keys
 * (B shrinks with D for large heads). At D = 16 that is a few FMAs per barrier and per
 * workgroup-memory access. Here every key costs a thread 2·D FMAs on broadcast vec4 reads (all
 * threads read the same key) and about four other instructions (max, subtract, exp2, sum), one
 * barrier pair per TILE keys, and the online softmax rescales the accumulator once per CHUNK keys
 * (one extra exp2 per chunk); only chunks that reach past a row's last visible key are masked.
 *
 * Numerics: f32 throughout, scores q·k·scale computed as (q·scale·log2 e)·k with exp2; masked
 * scores contribute exactly 0; a row with no visible key (causal with T > S) writes zeros.
 */
import type { TensorDesc } from '../backends/backend.js';

const ROWS = 64;
const TILE = 64;
const CHUNK = 8;

/** Whether the rows kernel runs this attention: f32 throughout and a small head (vec4 rows). */
export function denseRowsApplies(D: number, descs: readonly TensorDesc[]): boolean {
  return D <= 32 && D % 4 === 0 && descs.every((t) => t.dtype === 'f32');
}

/** Workgroups: (⌈T / ROWS⌉, Hq). */
export function denseRowsGrid(T: number, Hq: number): [number, number] {
  return [Math.ceil(T / ROWS), Hq];
}

/**
 * One chunk of CHUNK keys for this thread's row: scores as vec4 FMAs, the running max,
 * one rescale of the accumulator, then P·V as vec4 FMAs. `masked`: keys at or past `rowEnd` score
 * −∞ and contribute exactly 0 (no reliance on exp2(−∞)).
 */
function chunk(masked: boolean): string {
  const score = masked ? 'select(ninf(), qk, k0 + j < rowEnd)' : 'qk';
  const prob = masked ? 'select(0.0, exp2(s[jj] - mc), s[jj] > ninf())' : 'exp2(s[jj] - mc)';
  return `var s: array<f32, ${CHUNK}>;
        var mc = m;
        for (var jj = 0u; jj < CHUNK; jj++) {
          let j = j0 + jj;
          // four independent FMA chains of D/4 terms, summed pairwise: 3 adds, dependency depth D/4 + 2
          var qk4 = vec4<f32>(0.0);
          for (var c = 0u; c < D4; c++) { qk4 = fma(qr[c], ks[j * D4 + c], qk4); }
          let qk = (qk4.x + qk4.y) + (qk4.z + qk4.w);
          s[jj] = ${score};
          mc = max(mc, s[jj]);
        }
        let alpha = select(0.0, exp2(m - mc), m > ninf());
        l *= alpha;
        for (var c = 0u; c < D4; c++) { acc[c] *= alpha; }
        for (var jj = 0u; jj < CHUNK; jj++) {
          let p = ${prob};
          l += p;
          let j = j0 + jj;
          for (var c = 0u; c < D4; c++) { acc[c] = fma(vec4<f32>(p), vs[j * D4 + c], acc[c]); }
        }
        m = mc;`;
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
const CHUNK = ${CHUNK}u;
var<workgroup> ks: array<vec4<f32>, ${TILE * D4}>;
var<workgroup> vs: array<vec4<f32>, ${TILE * D4}>;
// -inf as a runtime value (WGSL rejects infinities in constant expressions)
var<private> ninf_bits: u32 = 0xff800000u;
fn ninf() -> f32 { return bitcast<f32>(ninf_bits); }`;
}

export function denseRowsWgsl(D: number): string {
  const D4 = D / 4;
  const vec = (a: string, off: string) =>
    `vec4<f32>(${a}[${off}], ${a}[${off} + 1u], ${a}[${off} + 2u], ${a}[${off} + 3u])`;
  return `${denseRowsDecls(D, D4)}
@compute @workgroup_size(${ROWS})
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let T = u[0].x;
  let S = u[0].y;
  let Hq = u[0].z;
  let Hk = u[0].w;
  let causal = u[1].x != 0u;
  let scale = bitcast<f32>(u[1].y);
  let q0 = wid.x * ROWS;
  let qi = q0 + lid;
  let h = wid.y;
  let kh = h / (Hq / Hk);
  let live = qi < T;
  var qr: array<vec4<f32>, ${D4}>;
  var acc: array<vec4<f32>, ${D4}>;
  let qbase = (qi * Hq + h) * D;
  // scores in units of log2: Q scaled once by scale·log2(e), then exp2
  let qscale = scale * 1.4426950408889634;
  for (var c = 0u; c < D4; c++) {
    var x = vec4<f32>(0.0);
    if (live) { x = ${vec('q', 'qbase + 4u * c')} * qscale; }
    qr[c] = x;
    acc[c] = vec4<f32>(0.0);
  }
  // keys this row sees: all S, or (causal) those ≤ qi + S − T, written without unsigned underflow
  var rowEnd = S;
  var kend = S;
  if (causal) {
    rowEnd = min(S, select(0u, qi + 1u + S - T, qi + 1u + S > T));
    let last = min(q0 + ROWS, T) + S;
    kend = min(S, select(0u, last - T, last > T));
  }
  var m = ninf();
  var l = 0.0;
  for (var k0 = 0u; k0 < kend; k0 += TILE) {
    workgroupBarrier();
    for (var e = lid; e < TILE * D4; e += ROWS) {
      let j = e / D4;
      var kv = vec4<f32>(0.0);
      var vv = vec4<f32>(0.0);
      if (k0 + j < S) {
        let off = ((k0 + j) * Hk + kh) * D + 4u * (e % D4);
        kv = ${vec('k', 'off')};
        vv = ${vec('v', 'off')};
      }
      ks[e] = kv;
      vs[e] = vv;
    }
    workgroupBarrier();
    let n = min(TILE, kend - k0);
    for (var j0 = 0u; j0 < n; j0 += CHUNK) {
      // every key of the chunk visible to this row (all but a last partial or causal-diagonal
      // chunk): no mask to apply
      if (k0 + j0 + CHUNK <= rowEnd) {
        ${chunk(false)}
      } else {
        ${chunk(true)}
      }
    }
  }
  if (live) {
    for (var c = 0u; c < D4; c++) {
      let r = select(vec4<f32>(0.0), acc[c] / l, l > 0.0);
      let at = qbase + 4u * c;
      o[at] = r.x;
      o[at + 1u] = r.y;
      o[at + 2u] = r.z;
      o[at + 3u] = r.w;
    }
  }
}`;
}
