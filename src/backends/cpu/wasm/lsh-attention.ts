// LSH sampling attention (MagicPIG) over f16 keys and values in CPU memory: SimHash codes of rows,
// the hash tables of a growing key set, and the sampled part of one query row's attention over one
// KV head's keys.
//
// A key is a candidate when its code equals the query's in at least T of the L tables; it then
// weighs exp(scale·q·k)/u, u = P(Binomial(L, (1 − θ/π)^K) ≥ T) its probability of being a candidate
// (θ the query–key angle). ln u is read from a table over the cosine (src/longctx/sampling-table.ts:
// the layout, and the error bound), everything is f32.
//
// The tables of a growing key set are segments of 65536 keys and a tail. A segment holds its keys
// grouped by code per table (CSR: starts u32 [L][2^K + 1], ids u16 [L][stride] relative to the
// segment's first key), so an id costs two bytes; keys in a segment collide only with each other,
// so a query's counts per key are a segment's worth of scratch. The tail [built, n) keeps its codes
// [tail][L], matched against the query's eight tables per SIMD compare; the host merges it into the
// last segment (lshMergeTables) when it grows past a fraction of the keys, and then drops its codes.
//
// lshAttention's rows are tasks (one query row against one KV head's store), described by 16 i32
// words each (see TASK_*); a task writes only its own scratch and output, so any thread may take
// any range of tasks.

import { exp4 } from './fast-exp';
import { hsum, ld4 } from './storage';

const TASK_Q = 0; // f32 [dim]
const TASK_QCODES = 1; // u16 [L]
const TASK_KEYS = 2; // f16 [n][dim]
const TASK_VALUES = 3; // f16 [n][dv]
const TASK_SEGS = 4; // i32 [segments][4]: starts, ids, keys in it, ids' row stride
const TASK_NSEGS = 5;
const TASK_CODES = 6; // u16 [n − built][L]: the tail's codes
const TASK_BUILT = 7;
const TASK_N = 8;
const TASK_LO = 9; // candidates are taken from [lo, hi)
const TASK_HI = 10;
const TASK_SCRATCH = 11; // counts u16 [S] (zero on entry and on exit), touched u32 [S], found u32 [S], logits f32 [S]
const TASK_SCRATCH_KEYS = 12; // S: at least min(n, SEGMENT), a multiple of 4
const TASK_IDS_OUT = 13; // u32 [hi − lo]: the candidates, for tests (0: not kept)
const TASK_OUT = 14; // f32 [dv + 2]: output, lse (base 2), candidates
const TASK_WORDS = 16;

const SEGMENT_BITS = 16;

// the ln u table (src/longctx/sampling-table.ts): per sign of the cosine, points at y = (1 − |c|)/2
// spaced by f32 bits, 2^LOG_U_MANTISSA_BITS per octave from y = 2^-26
const LOG_U_MANTISSA_BITS = 8;
const LOG_U_OCTAVES = 25;
const LOG_U_Y0_BITS: i32 = (127 - 26) << 23;
const LOG_U_ENTRIES = (LOG_U_OCTAVES << LOG_U_MANTISSA_BITS) + 2;
const LOG_U_SHIFT = 23 - LOG_U_MANTISSA_BITS;

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
 * Merges `count` keys (codes [count][L] at `codes`, local ids first, first + 1, …) into a segment's
 * tables, for each table t in [r0, r1): the old ids move up by the new keys of lower codes
 * (memory.copy, buckets from the top down so nothing is overwritten before it moves), then the new
 * ids go to the ends of their buckets, so ids stay ascending within a bucket. `hist` is u32
 * [L][2^K + 1] scratch. Starts all zero and first = 0 is the plain counting sort.
 */
export function lshMergeTables(codes: usize, count: i32, tables: i32, bits: i32, starts: usize, ids: usize, first: i32, stride: i32, hist: usize, r0: i32, r1: i32): void {
  const buckets = 1 << bits;
  for (let t = r0; t < r1; t++) {
    const row = starts + (<usize>(t * (buckets + 1)) << 2);
    const h = hist + (<usize>(t * (buckets + 1)) << 2);
    const out = ids + (<usize>t * <usize>stride << 1);
    memory.fill(h, 0, <usize>(buckets + 1) << 2);
    for (let i = 0; i < count; i++) {
      const at = h + ((<usize>load<u16>(codes + (<usize>(i * tables + t) << 1)) + 1) << 2);
      store<u32>(at, load<u32>(at) + 1);
    }
    // h[c] = new keys with a code below c
    for (let c = 0; c < buckets; c++) {
      const at = h + (<usize>(c + 1) << 2);
      store<u32>(at, load<u32>(at) + load<u32>(at - 4));
    }
    let oldNext = load<u32>(row + (<usize>buckets << 2));
    store<u32>(row + (<usize>buckets << 2), oldNext + load<u32>(h + (<usize>buckets << 2)));
    for (let c = buckets - 1; c >= 0; c--) {
      const s = row + (<usize>c << 2);
      const old = load<u32>(s);
      const shift = load<u32>(h + (<usize>c << 2));
      if (shift > 0 && oldNext > old) memory.copy(out + (<usize>(old + shift) << 1), out + (<usize>old << 1), <usize>(oldNext - old) << 1);
      // the bucket's cursor for new keys: its old end, moved up
      store<u32>(h + (<usize>c << 2), oldNext + shift);
      store<u32>(s, old + shift);
      oldNext = old;
    }
    for (let i = 0; i < count; i++) {
      const at = h + (<usize>load<u16>(codes + (<usize>(i * tables + t) << 1)) << 2);
      const j = load<u32>(at);
      store<u16>(out + (<usize>j << 1), <u16>(first + i));
      store<u32>(at, j + 1);
    }
  }
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

/** ln u for cosine c from the table (interpolated linearly between its points). */
@inline function logU(table: usize, c: f32): f32 {
  const neg = c < 0;
  const y: f32 = neg ? <f32>0.5 + <f32>0.5 * c : <f32>0.5 - <f32>0.5 * c;
  // below the first point (and negative y from a cosine rounded past ±1) reads the first point;
  // NaN and anything past 1/2 read the last
  const off = min(max(reinterpret<i32>(y) - LOG_U_Y0_BITS, 0), LOG_U_OCTAVES << 23);
  const frac = <f32>(off & ((1 << LOG_U_SHIFT) - 1)) * <f32>(1.0 / <f64>(1 << LOG_U_SHIFT));
  const p = table + (((neg ? <usize>LOG_U_ENTRIES : 0) + <usize>(off >> LOG_U_SHIFT)) << 2);
  const a = load<f32>(p);
  return a + frac * (load<f32>(p, 4) - a);
}

// the running state of the task in progress (globals are per thread: each runs its own instance)
let runMax: f32 = -Infinity;
let runSum: f32 = 0;

/**
 * Adds `count` candidates (global ids at `found`) to the task's running softmax at `out`: first
 * their logits scale·q·k − ln u into `logits` (q·k and ‖k‖² in one pass over the f16 key), then one
 * rescale to the new maximum, then weights four at a time (exp4) and the weighted values. A
 * candidate costs its scattered key and value rows (memory latency, not arithmetic, at 64K keys),
 * so both passes take four rows at once. The parts are @inline: one function in the binary.
 */
@inline function consume(found: usize, count: i32, logits: usize, q: usize, qn: f32, keys: usize, values: usize, dim: i32, dv: i32, scale: f32, table: usize, out: usize): void {
  const mx = storeLogits(found, count, logits, q, qn, keys, dim, scale, table);
  if (mx > runMax) {
    const r = Mathf.exp(runMax - mx);
    runSum *= r;
    const rv = f32x4.splat(r);
    for (let e = 0; e < dv; e += 4) v128.store(out + (<usize>e << 2), f32x4.mul(v128.load(out + (<usize>e << 2)), rv));
    runMax = mx;
  }
  runSum = addWeightedValues(found, count, logits, mx, values, dv, out, runSum);
}

/** Stores the candidates' logits and returns the largest of them and the running maximum. */
@inline function storeLogits(found: usize, count: i32, logits: usize, q: usize, qn: f32, keys: usize, dim: i32, scale: f32, table: usize): f32 {
  let mx: f32 = runMax;
  const kRow = <usize>dim << 1;
  let j = 0;
  // four keys per pass over q: four rows' misses in flight at once (the keys are scattered)
  for (; j + 4 <= count; j += 4) {
    const k0 = keys + <usize>load<u32>(found + (<usize>j << 2)) * kRow;
    const k1 = keys + <usize>load<u32>(found + (<usize>(j + 1) << 2)) * kRow;
    const k2 = keys + <usize>load<u32>(found + (<usize>(j + 2) << 2)) * kRow;
    const k3 = keys + <usize>load<u32>(found + (<usize>(j + 3) << 2)) * kRow;
    let d0 = f32x4.splat(0);
    let d1 = f32x4.splat(0);
    let d2 = f32x4.splat(0);
    let d3 = f32x4.splat(0);
    let n0 = f32x4.splat(0);
    let n1 = f32x4.splat(0);
    let n2 = f32x4.splat(0);
    let n3 = f32x4.splat(0);
    for (let e = 0; e < dim; e += 4) {
      const qv = v128.load(q + (<usize>e << 2));
      const a = ld4(k0, e, 1);
      const b = ld4(k1, e, 1);
      const c = ld4(k2, e, 1);
      const d = ld4(k3, e, 1);
      d0 = f32x4.add(d0, f32x4.mul(qv, a));
      d1 = f32x4.add(d1, f32x4.mul(qv, b));
      d2 = f32x4.add(d2, f32x4.mul(qv, c));
      d3 = f32x4.add(d3, f32x4.mul(qv, d));
      n0 = f32x4.add(n0, f32x4.mul(a, a));
      n1 = f32x4.add(n1, f32x4.mul(b, b));
      n2 = f32x4.add(n2, f32x4.mul(c, c));
      n3 = f32x4.add(n3, f32x4.mul(d, d));
    }
    mx = max(mx, logit(logits, j, hsum(d0), hsum(n0), qn, scale, table));
    mx = max(mx, logit(logits, j + 1, hsum(d1), hsum(n1), qn, scale, table));
    mx = max(mx, logit(logits, j + 2, hsum(d2), hsum(n2), qn, scale, table));
    mx = max(mx, logit(logits, j + 3, hsum(d3), hsum(n3), qn, scale, table));
  }
  for (; j < count; j++) {
    const k = keys + <usize>load<u32>(found + (<usize>j << 2)) * kRow;
    let dot = f32x4.splat(0);
    let kk = f32x4.splat(0);
    for (let e = 0; e < dim; e += 4) {
      const kv = ld4(k, e, 1);
      dot = f32x4.add(dot, f32x4.mul(v128.load(q + (<usize>e << 2)), kv));
      kk = f32x4.add(kk, f32x4.mul(kv, kv));
    }
    mx = max(mx, logit(logits, j, hsum(dot), hsum(kk), qn, scale, table));
  }
  return mx;
}

/** Adds each candidate's value row weighted exp(logit − mx) to `out`; returns `sum` plus the weights. */
@inline function addWeightedValues(found: usize, count: i32, logits: usize, mx: f32, values: usize, dv: i32, out: usize, sum: f32): f32 {
  const mv = f32x4.splat(mx);
  const vRow = <usize>dv << 1;
  for (let j = 0; j < count; j += 4) {
    // lanes past `count` weigh 0 and read row 0 (any row: its weight is 0)
    const live = min(4, count - j);
    let w = exp4(f32x4.sub(v128.load(logits + (<usize>j << 2)), mv));
    w = v128.and(w, i32x4.gt_s(i32x4.splat(live), i32x4(0, 1, 2, 3)));
    sum += hsum(w);
    const v0 = values + <usize>load<u32>(found + (<usize>j << 2)) * vRow;
    const v1 = live > 1 ? values + <usize>load<u32>(found + (<usize>(j + 1) << 2)) * vRow : values;
    const v2 = live > 2 ? values + <usize>load<u32>(found + (<usize>(j + 2) << 2)) * vRow : values;
    const v3 = live > 3 ? values + <usize>load<u32>(found + (<usize>(j + 3) << 2)) * vRow : values;
    const w0 = f32x4.splat(f32x4.extract_lane(w, 0));
    const w1 = f32x4.splat(f32x4.extract_lane(w, 1));
    const w2 = f32x4.splat(f32x4.extract_lane(w, 2));
    const w3 = f32x4.splat(f32x4.extract_lane(w, 3));
    for (let e = 0; e < dv; e += 4) {
      const o = out + (<usize>e << 2);
      let acc = v128.load(o);
      acc = f32x4.add(acc, f32x4.mul(w0, ld4(v0, e, 1)));
      acc = f32x4.add(acc, f32x4.mul(w1, ld4(v1, e, 1)));
      acc = f32x4.add(acc, f32x4.mul(w2, ld4(v2, e, 1)));
      acc = f32x4.add(acc, f32x4.mul(w3, ld4(v3, e, 1)));
      v128.store(o, acc);
    }
  }
  return sum;
}

/** Stores candidate j's logit scale·q·k − ln u (from q·k and ‖k‖²) and returns it. */
@inline function logit(logits: usize, j: i32, dot: f32, kk: f32, qn: f32, scale: f32, table: usize): f32 {
  const denom = qn * Mathf.sqrt(kk);
  const c: f32 = denom > 0 ? dot / denom : 0;
  const x = scale * dot - logU(table, c);
  store<f32>(logits + (<usize>j << 2), x);
  return x;
}

/**
 * The keys of the segment at `desc` (first key `base`) that share the query's code in at least
 * minCollisions tables and lie in [segLo, segHi) of it, as global ids at `found`; returns their
 * count. Per-key counts go up in `counts` and are zeroed again (through `touched`) before return.
 */
@inline function segmentCandidates(desc: usize, qCodes: usize, tables: i32, buckets: i32, minCollisions: i32, base: i32, segLo: i32, segHi: i32, counts: usize, touched: usize, found: usize): i32 {
  const starts = <usize>load<i32>(desc);
  const ids = <usize>load<i32>(desc, 4);
  const stride = load<i32>(desc, 12);
  let nTouched = 0;
  let nFound = 0;
  for (let t = 0; t < tables; t++) {
    const s0 = starts + (<usize>(t * buckets + <i32>load<u16>(qCodes + (<usize>t << 1))) << 2);
    const end = load<u32>(s0, 4);
    const row = ids + (<usize>t * <usize>stride << 1);
    for (let j = load<u32>(s0); j < end; j++) {
      const id = <i32>load<u16>(row + (<usize>j << 1));
      const cp = counts + (<usize>id << 1);
      const c = <i32>load<u16>(cp) + 1;
      store<u16>(cp, <u16>c);
      if (c == 1) store<u32>(touched + (<usize>(nTouched++) << 2), id);
      if (c == minCollisions && id >= segLo && id < segHi) store<u32>(found + (<usize>(nFound++) << 2), base + id);
    }
  }
  for (let j = 0; j < nTouched; j++) store<u16>(counts + (<usize>load<u32>(touched + (<usize>j << 2)) << 1), 0);
  return nFound;
}

/**
 * The sampled state of each task in [r0, r1): output Σ w_i v_i / Σ w_i and lse = log2 Σ w_i over the
 * candidates, w_i = exp(scale·q·k_i)/u_i, ln u_i from `logUTable` (f32 [2][LOG_U_ENTRIES]). Each
 * segment's candidates are found (counts per key in the task's scratch, a key found when its count
 * reaches T) and added to a running softmax, then the tail's, in pieces of S keys. dim and dv are
 * multiples of 4. No candidate: output 0, lse −∞.
 */
export function lshAttention(tasks: usize, dim: i32, dv: i32, bits: i32, tables: i32, minCollisions: i32, scale: f32, logUTable: usize, r0: i32, r1: i32): void {
  const buckets = (1 << bits) + 1;
  for (let r = r0; r < r1; r++) {
    const task = tasks + <usize>(r * TASK_WORDS) * 4;
    const q = <usize>load<i32>(task + TASK_Q * 4);
    const qCodes = <usize>load<i32>(task + TASK_QCODES * 4);
    const keys = <usize>load<i32>(task + TASK_KEYS * 4);
    const values = <usize>load<i32>(task + TASK_VALUES * 4);
    const segs = <usize>load<i32>(task + TASK_SEGS * 4);
    const nSegs = load<i32>(task + TASK_NSEGS * 4);
    const codes = <usize>load<i32>(task + TASK_CODES * 4);
    const built = load<i32>(task + TASK_BUILT * 4);
    const lo = load<i32>(task + TASK_LO * 4);
    const hi = load<i32>(task + TASK_HI * 4);
    const S = load<i32>(task + TASK_SCRATCH_KEYS * 4);
    const counts = <usize>load<i32>(task + TASK_SCRATCH * 4);
    const touched = counts + (<usize>S << 1);
    const found = touched + (<usize>S << 2);
    const logits = found + (<usize>S << 2);
    const idsOut = <usize>load<i32>(task + TASK_IDS_OUT * 4);
    const out = <usize>load<i32>(task + TASK_OUT * 4);
    let qn = f32x4.splat(0);
    for (let e = 0; e < dim; e += 4) {
      const x = v128.load(q + (<usize>e << 2));
      qn = f32x4.add(qn, f32x4.mul(x, x));
    }
    const qNorm = Mathf.sqrt(hsum(qn));
    for (let e = 0; e < dv; e += 4) v128.store(out + (<usize>e << 2), f32x4.splat(0));
    runMax = -Infinity;
    runSum = 0;
    let total = 0;
    for (let s = 0; s < nSegs; s++) {
      const desc = segs + (<usize>(s << 2) << 2);
      const base = s << SEGMENT_BITS;
      const inSeg = load<i32>(desc, 8);
      if (base >= hi || base + inSeg <= lo) continue;
      const nFound = segmentCandidates(desc, qCodes, tables, buckets, minCollisions, base, lo - base, hi - base, counts, touched, found);
      if (idsOut) memory.copy(idsOut + (<usize>total << 2), found, <usize>nFound << 2);
      consume(found, nFound, logits, q, qNorm, keys, values, dim, dv, scale, logUTable, out);
      total += nFound;
    }
    const rowBytes = <usize>tables << 1;
    for (let from = max(built, lo); from < hi; from += S) {
      const to = min(hi, from + S);
      let nFound = 0;
      for (let id = from; id < to; id++) {
        if (matches(codes + <usize>(id - built) * rowBytes, qCodes, tables) >= minCollisions) store<u32>(found + (<usize>(nFound++) << 2), id);
      }
      if (idsOut) memory.copy(idsOut + (<usize>total << 2), found, <usize>nFound << 2);
      consume(found, nFound, logits, q, qNorm, keys, values, dim, dv, scale, logUTable, out);
      total += nFound;
    }
    if (total > 0) {
      const inv = f32x4.splat(<f32>1 / runSum);
      for (let e = 0; e < dv; e += 4) v128.store(out + (<usize>e << 2), f32x4.mul(v128.load(out + (<usize>e << 2)), inv));
    }
    store<f32>(out + (<usize>dv << 2), total > 0 ? (runMax + Mathf.log(runSum)) * <f32>1.4426950408889634 : -Infinity);
    store<f32>(out + (<usize>(dv + 1) << 2), <f32>total);
  }
}
