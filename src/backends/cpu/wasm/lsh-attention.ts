// LSH sampling attention (MagicPIG) over f16 keys and values in CPU memory: SimHash codes of rows,
// and the sampled part of one query row's attention over one KV head's keys.
//
// A key is a candidate when its code equals the query's in at least T of the L tables; it then
// weighs exp(scale·q·k)/u, u = P(Binomial(L, (1 − θ/π)^K) ≥ T) its probability of being a candidate
// (θ the query–key angle). u is computed in f64 (it spans hundreds of orders of magnitude, and the
// tail needs log1p/expm1), everything else in f32.
//
// The tables of a growing key set are a built part and a tail: keys [0, built) are grouped by code
// per table (CSR: starts [L][2^K + 1], ids [L][built]); keys [built, n) are matched by comparing
// their codes [n][L] with the query's, eight tables per SIMD compare. The host rebuilds the CSR when
// the tail grows past a fraction of the keys, so a query costs the buckets it visits plus a short
// scan.
//
// lshAttention's rows are tasks (one query row against one KV head's store), described by 16 i32
// words each (see TASK_*); a task writes only its own scratch and output, so any thread may take
// any range of tasks.

import { hsum, ld4 } from './storage';

const TASK_Q = 0; // f32 [dim]
const TASK_QCODES = 1; // u16 [L]
const TASK_KEYS = 2; // f16 [n][dim]
const TASK_VALUES = 3; // f16 [n][dv]
const TASK_NORMS = 4; // f32 [n]: ‖k‖ of the stored (f16) key
const TASK_STARTS = 5; // u32 [L][2^K + 1]
const TASK_IDS = 6; // u32 [L][built]
const TASK_BUILT = 7;
const TASK_CODES = 8; // u16 [n][L]
const TASK_N = 9;
const TASK_LO = 10; // candidates are taken from [lo, hi)
const TASK_HI = 11;
const TASK_COUNTS = 12; // u16 [n] scratch, zero on entry and on exit
const TASK_LIST = 13; // u32 [2n] scratch: keys touched, then candidates found (read by tests)
const TASK_OUT = 14; // f32 [dv + 2]: output, lse (base 2), candidates
const TASK_WORDS = 16;

/** codes[r][t] = Σ_b [x_r · dir_(t·K+b) > 0] << b for rows r in [r0, r1); x f32 [rows][dim], dirs f32 [L·K][dim]. */
export function simhashCodes(x: usize, dim: i32, dirs: usize, bits: i32, tables: i32, codes: usize, r0: i32, r1: i32): void {
  const d4 = dim & ~3;
  const rowBytes = <usize>dim << 2;
  for (let r = r0; r < r1; r++) {
    const xr = x + <usize>r * rowBytes;
    for (let t = 0; t < tables; t++) {
      let code: u32 = 0;
      for (let b = 0; b < bits; b++) {
        const w = dirs + <usize>(t * bits + b) * rowBytes;
        let acc = f32x4.splat(0);
        for (let e = 0; e < d4; e += 4) {
          const o = <usize>e << 2;
          acc = f32x4.add(acc, f32x4.mul(v128.load(xr + o), v128.load(w + o)));
        }
        let s = hsum(acc);
        for (let e = d4; e < dim; e++) s += load<f32>(xr + (<usize>e << 2)) * load<f32>(w + (<usize>e << 2));
        if (s > 0) code |= 1 << b;
      }
      store<u16>(codes + (<usize>(r * tables + t) << 1), <u16>code);
    }
  }
}

/**
 * The tables of keys [0, n): for each table t in [r0, r1), the key ids grouped by code (a counting
 * sort: ids [t][n] ascending within a bucket, starts [t][2^K + 1] the buckets' bounds), from codes
 * [n][L]. Tables are independent, so threads split them.
 */
export function lshBuildTables(codes: usize, n: i32, tables: i32, bits: i32, starts: usize, ids: usize, r0: i32, r1: i32): void {
  const buckets = 1 << bits;
  for (let t = r0; t < r1; t++) {
    const row = starts + (<usize>(t * (buckets + 1)) << 2);
    memory.fill(row, 0, <usize>(buckets + 1) << 2);
    for (let i = 0; i < n; i++) {
      const c = <usize>load<u16>(codes + (<usize>(i * tables + t) << 1));
      const at = row + ((c + 1) << 2);
      store<u32>(at, load<u32>(at) + 1);
    }
    for (let c = 0; c < buckets; c++) {
      const at = row + (<usize>(c + 1) << 2);
      store<u32>(at, load<u32>(at) + load<u32>(at - 4));
    }
    // place each id at its bucket's cursor (row[c] runs to the bucket's end), then shift the bounds back
    const out = ids + (<usize>t * <usize>n << 2);
    for (let i = 0; i < n; i++) {
      const at = row + (<usize>load<u16>(codes + (<usize>(i * tables + t) << 1)) << 2);
      const j = load<u32>(at);
      store<u32>(out + (<usize>j << 2), <u32>i);
      store<u32>(at, j + 1);
    }
    for (let c = buckets; c > 0; c--) store<u32>(row + (<usize>c << 2), load<u32>(row + (<usize>(c - 1) << 2)));
    store<u32>(row, 0);
  }
}

/** P(at least T of L tables of K bits collide) for per-bit probability p (src/longctx/collision.ts). */
@inline function samplingProbability(p: f64, bits: i32, tables: i32, minCollisions: i32): f64 {
  const P = Math.pow(p, <f64>bits);
  if (P >= 1) return 1;
  if (P <= 0) return 0;
  const r = P / (1 - P);
  let term: f64 = 1;
  let tail: f64 = 0;
  for (let t = 1; t < minCollisions; t++) {
    term *= (r * <f64>(tables - t + 1)) / <f64>t;
    tail += term;
  }
  return -Math.expm1(<f64>tables * Math.log1p(-P) + Math.log1p(tail));
}

/** How many of the L codes at `a` equal those at `b` (u16 each), eight per compare. */
@inline function matches(a: usize, b: usize, tables: i32): i32 {
  let c = 0;
  let t = 0;
  for (; t + 8 <= tables; t += 8) {
    const o = <usize>t << 1;
    c += <i32>popcnt(i16x8.bitmask(i16x8.eq(v128.load(a + o), v128.load(b + o))));
  }
  for (; t < tables; t++) if (load<u16>(a + (<usize>t << 1)) == load<u16>(b + (<usize>t << 1))) c++;
  return c;
}

/** Candidates of one task into list + n·4, returning how many. */
@inline function findCandidates(task: usize, bits: i32, tables: i32, minCollisions: i32): i32 {
  const qCodes = <usize>load<i32>(task + TASK_QCODES * 4);
  const starts = <usize>load<i32>(task + TASK_STARTS * 4);
  const ids = <usize>load<i32>(task + TASK_IDS * 4);
  const built = load<i32>(task + TASK_BUILT * 4);
  const codes = <usize>load<i32>(task + TASK_CODES * 4);
  const n = load<i32>(task + TASK_N * 4);
  const lo = load<i32>(task + TASK_LO * 4);
  const hi = load<i32>(task + TASK_HI * 4);
  const counts = <usize>load<i32>(task + TASK_COUNTS * 4);
  const touched = <usize>load<i32>(task + TASK_LIST * 4);
  const found = touched + (<usize>n << 2);
  const buckets = (1 << bits) + 1;
  let nTouched = 0;
  let nFound = 0;
  for (let t = 0; t < tables; t++) {
    const s0 = starts + (<usize>(t * buckets + <i32>load<u16>(qCodes + (<usize>t << 1))) << 2);
    const end = load<u32>(s0 + 4);
    const row = ids + (<usize>t * <usize>built << 2);
    for (let j = load<u32>(s0); j < end; j++) {
      const id = load<u32>(row + (<usize>j << 2));
      const cp = counts + (<usize>id << 1);
      const c = <i32>load<u16>(cp) + 1;
      store<u16>(cp, <u16>c);
      if (c == 1) store<u32>(touched + (<usize>(nTouched++) << 2), id);
      if (c == minCollisions && <i32>id >= lo && <i32>id < hi) store<u32>(found + (<usize>(nFound++) << 2), id);
    }
  }
  for (let j = 0; j < nTouched; j++) store<u16>(counts + (<usize>load<u32>(touched + (<usize>j << 2)) << 1), 0);
  const tailLo = max(built, lo);
  const rowBytes = <usize>tables << 1;
  for (let id = tailLo; id < hi; id++) {
    if (matches(codes + <usize>id * rowBytes, qCodes, tables) >= minCollisions) store<u32>(found + (<usize>(nFound++) << 2), id);
  }
  return nFound;
}

/** q · k for f32 q and f16 k (dim a multiple of 4). */
@inline function dotF16(q: usize, k: usize, dim: i32): f32 {
  let acc = f32x4.splat(0);
  for (let e = 0; e < dim; e += 4) acc = f32x4.add(acc, f32x4.mul(v128.load(q + (<usize>e << 2)), ld4(k, e, 1)));
  return hsum(acc);
}

/**
 * The sampled state of each task in [r0, r1): output Σ w_i v_i / Σ w_i and lse = log2 Σ w_i over the
 * candidates, w_i = exp(scale·q·k_i)/u_i, as an online softmax (one pass over the candidates).
 * dim and dv are multiples of 4. No candidate: output 0, lse −∞.
 */
export function lshAttention(tasks: usize, dim: i32, dv: i32, bits: i32, tables: i32, minCollisions: i32, scale: f32, r0: i32, r1: i32): void {
  for (let r = r0; r < r1; r++) {
    const task = tasks + <usize>(r * TASK_WORDS) * 4;
    const nFound = findCandidates(task, bits, tables, minCollisions);
    const q = <usize>load<i32>(task + TASK_Q * 4);
    const keys = <usize>load<i32>(task + TASK_KEYS * 4);
    const values = <usize>load<i32>(task + TASK_VALUES * 4);
    const norms = <usize>load<i32>(task + TASK_NORMS * 4);
    const n = load<i32>(task + TASK_N * 4);
    const found = <usize>load<i32>(task + TASK_LIST * 4) + (<usize>n << 2);
    const out = <usize>load<i32>(task + TASK_OUT * 4);
    let qn: f32 = 0;
    for (let e = 0; e < dim; e++) qn += load<f32>(q + (<usize>e << 2)) * load<f32>(q + (<usize>e << 2));
    qn = Mathf.sqrt(qn);
    for (let e = 0; e < dv; e += 4) v128.store(out + (<usize>e << 2), f32x4.splat(0));
    let m: f32 = -Infinity;
    let sum: f32 = 0;
    for (let j = 0; j < nFound; j++) {
      const id = load<u32>(found + (<usize>j << 2));
      const dot = dotF16(q, keys + <usize>id * (<usize>dim << 1), dim);
      const denom = <f64>qn * <f64>load<f32>(norms + (<usize>id << 2));
      const cos = denom > 0 ? min(1.0, max(-1.0, <f64>dot / denom)) : 0.0;
      const u = max(samplingProbability(1 - Math.acos(cos) / Math.PI, bits, tables, minCollisions), 1e-300);
      const logw = <f32>(<f64>(scale * dot) - Math.log(u));
      if (logw > m) {
        const c = Mathf.exp(m - logw);
        sum *= c;
        const cv = f32x4.splat(c);
        for (let e = 0; e < dv; e += 4) v128.store(out + (<usize>e << 2), f32x4.mul(v128.load(out + (<usize>e << 2)), cv));
        m = logw;
      }
      const w = Mathf.exp(logw - m);
      sum += w;
      const wv = f32x4.splat(w);
      const v = values + <usize>id * (<usize>dv << 1);
      for (let e = 0; e < dv; e += 4) {
        const o = out + (<usize>e << 2);
        v128.store(o, f32x4.add(v128.load(o), f32x4.mul(wv, ld4(v, e, 1))));
      }
    }
    if (nFound > 0) {
      const inv = f32x4.splat(<f32>1 / sum);
      for (let e = 0; e < dv; e += 4) v128.store(out + (<usize>e << 2), f32x4.mul(v128.load(out + (<usize>e << 2)), inv));
    }
    store<f32>(out + (<usize>dv << 2), nFound > 0 ? (m + Mathf.log(sum)) * <f32>1.4426950408889634 : -Infinity);
    store<f32>(out + (<usize>(dv + 1) << 2), <f32>nFound);
  }
}
