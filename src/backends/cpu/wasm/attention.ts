// Attention kernels: the online softmax and the key/value reads that paged attention
// (paged-attention.ts) shares, dense attention over contiguous K/V (the compiler's `attention` op),
// and the merge of two partial states.
//
// Every row (one query token × one query head) runs an online softmax over its visible keys, four
// keys per block: four scores, one max, one vector exp for the four weights (fast-exp.ts), then
// the four value rows added into the output row in place. Masked keys score −∞ and weigh 0.
// Log-sum-exps are base 2, as the ops define them; a row that sees no key gets o = 0, lse = −∞.

import { hsum, ld, ld4 } from './storage';
import { exp1, exp4 } from './fast-exp';

const NEG_INF: f32 = -Infinity;
const LOG2E: f32 = 1.4426950408889634;

// The running max and sum of the row in progress (globals are per instance, so per thread).
let rowMax: f32 = NEG_INF;
let rowSum: f32 = 0;

@inline export function beginRow(o: usize, D: i32): void {
  memory.fill(o, 0, <usize>D << 2);
  rowMax = NEG_INF;
  rowSum = 0;
}

// Folds four scores into the row's (max, sum), rescaling the output row when the max grows, and
// returns their weights exp(s − max).
@inline export function foldScores(s: v128, o: usize, D: i32): v128 {
  const bm = max(max(f32x4.extract_lane(s, 0), f32x4.extract_lane(s, 1)), max(f32x4.extract_lane(s, 2), f32x4.extract_lane(s, 3)));
  if (bm == NEG_INF) return f32x4.splat(0);
  if (bm > rowMax) {
    const corr = exp1(rowMax - bm);
    rowSum *= corr;
    const cv = f32x4.splat(corr);
    const D4 = D & ~3;
    for (let e = 0; e < D4; e += 4) v128.store(o + (<usize>e << 2), f32x4.mul(v128.load(o + (<usize>e << 2)), cv));
    for (let e = D4; e < D; e++) store<f32>(o + (<usize>e << 2), load<f32>(o + (<usize>e << 2)) * corr);
    rowMax = bm;
  }
  const p = exp4(f32x4.sub(s, f32x4.splat(rowMax)));
  rowSum += hsum(p);
  return p;
}

// o += p · v for one value row of D elements in storage dtype `vdt`.
@inline export function addScaled(o: usize, p: f32, v: usize, vOff: i32, vdt: i32, D: i32): void {
  if (p == 0) return;
  const pv = f32x4.splat(p);
  const D4 = D & ~3;
  for (let e = 0; e < D4; e += 4) {
    const po = o + (<usize>e << 2);
    v128.store(po, f32x4.add(v128.load(po), f32x4.mul(pv, ld4(v, vOff + e, vdt))));
  }
  for (let e = D4; e < D; e++) store<f32>(o + (<usize>e << 2), load<f32>(o + (<usize>e << 2)) + p * ld(v, vOff + e, vdt));
}

// o /= sum, and the row's base-2 log-sum-exp stored at lse (when lse ≠ 0).
@inline export function endRow(o: usize, D: i32, lse: usize): void {
  if (rowSum > 0) {
    const inv = f32x4.splat(<f32>1 / rowSum);
    const D4 = D & ~3;
    for (let e = 0; e < D4; e += 4) v128.store(o + (<usize>e << 2), f32x4.mul(v128.load(o + (<usize>e << 2)), inv));
    for (let e = D4; e < D; e++) store<f32>(o + (<usize>e << 2), load<f32>(o + (<usize>e << 2)) / rowSum);
    if (lse) store<f32>(lse, rowMax * LOG2E + Mathf.log2(rowSum));
  } else if (lse) store<f32>(lse, NEG_INF);
}

@inline export function dot(q: usize, k: usize, kOff: i32, kdt: i32, D: i32): f32 {
  const D4 = D & ~3;
  let acc = f32x4.splat(0);
  for (let e = 0; e < D4; e += 4) acc = f32x4.add(acc, f32x4.mul(v128.load(q + (<usize>e << 2)), ld4(k, kOff + e, kdt)));
  let s = hsum(acc);
  for (let e = D4; e < D; e++) s += load<f32>(q + (<usize>e << 2)) * ld(k, kOff + e, kdt);
  return s;
}

// q · rope(k, pos): the key rotated on the fly (rotate-half pairs (i, i + D/2)) with the cos/sin
// row of its position; D/2 is a multiple of 4 (paged attention's head dims are multiples of 8).
@inline export function ropeDot(q: usize, k: usize, kOff: i32, kdt: i32, half: i32, cosRow: usize, sinRow: usize): f32 {
  let acc = f32x4.splat(0);
  for (let i = 0; i < half; i += 4) {
    const qa = v128.load(q + (<usize>i << 2));
    const qb = v128.load(q + (<usize>(i + half) << 2));
    const ka = ld4(k, kOff + i, kdt);
    const kb = ld4(k, kOff + i + half, kdt);
    const c = v128.load(cosRow + (<usize>i << 2));
    const s = v128.load(sinRow + (<usize>i << 2));
    acc = f32x4.add(acc, f32x4.mul(qa, f32x4.sub(f32x4.mul(ka, c), f32x4.mul(kb, s))));
    acc = f32x4.add(acc, f32x4.mul(qb, f32x4.add(f32x4.mul(kb, c), f32x4.mul(ka, s))));
  }
  return hsum(acc);
}

@inline export function tanhf(x: f32): f32 {
  // tanh via exp of a non-positive argument, so it never overflows
  const e = Mathf.exp(<f32>-2 * Mathf.abs(x));
  const t = (<f32>1 - e) / (<f32>1 + e);
  return x < 0 ? -t : t;
}

// ---- dense attention -----------------------------------------------------------------------

// o [T, Hq, D] from q [T, Hq, D], k and v [S, Hk, D], all f32; row r = token · Hq + head, query
// head h reads KV head ⌊h / (Hq/Hk)⌋; causal: query i sees keys j ≤ i + S − T. Any D.
export function attentionDense(
  q: usize, k: usize, v: usize, o: usize, T: i32, S: i32, Hq: i32, Hk: i32, D: i32, scale: f32, causal: i32,
  r0: i32, r1: i32,
): void {
  const group = Hq / Hk;
  for (let r = r0; r < r1; r++) {
    const t = r / Hq;
    const kh = (r - t * Hq) / group;
    const last = causal ? min(S - 1, t + S - T) : S - 1;
    const qr = q + (<usize>(r * D) << 2);
    const or = o + (<usize>(r * D) << 2);
    beginRow(or, D);
    for (let j0 = 0; j0 <= last; j0 += 4) {
      const n = min(4, last - j0 + 1);
      const off0 = (j0 * Hk + kh) * D;
      const stride = Hk * D;
      const s0 = dot(qr, k, off0, 0, D) * scale;
      const s1 = n > 1 ? dot(qr, k, off0 + stride, 0, D) * scale : NEG_INF;
      const s2 = n > 2 ? dot(qr, k, off0 + 2 * stride, 0, D) * scale : NEG_INF;
      const s3 = n > 3 ? dot(qr, k, off0 + 3 * stride, 0, D) * scale : NEG_INF;
      const p = foldScores(f32x4(s0, s1, s2, s3), or, D);
      addScaled(or, f32x4.extract_lane(p, 0), v, off0, 0, D);
      if (n > 1) addScaled(or, f32x4.extract_lane(p, 1), v, off0 + stride, 0, D);
      if (n > 2) addScaled(or, f32x4.extract_lane(p, 2), v, off0 + 2 * stride, 0, D);
      if (n > 3) addScaled(or, f32x4.extract_lane(p, 3), v, off0 + 3 * stride, 0, D);
    }
    endRow(or, D, 0);
  }
}

// ---- merge of partial states ---------------------------------------------------------------

// (va, sa) ⊕ (vb, sb) per row of D: v = (2^(sa−m)·va + 2^(sb−m)·vb) / (2^(sa−m) + 2^(sb−m)),
// s = m + log2(sum) with m = max(sa, sb); both −∞ gives v = 0, s = −∞. All f32.
export function mergeStates(va: usize, sa: usize, vb: usize, sb: usize, v: usize, s: usize, D: i32, r0: i32, r1: i32): void {
  const D4 = D & ~3;
  for (let r = r0; r < r1; r++) {
    const a = load<f32>(sa + (<usize>r << 2));
    const b = load<f32>(sb + (<usize>r << 2));
    const m = max(a, b);
    const row = <usize>(r * D) << 2;
    if (m == NEG_INF) {
      memory.fill(v + row, 0, <usize>D << 2);
      store<f32>(s + (<usize>r << 2), NEG_INF);
      continue;
    }
    const wa = Mathf.exp2(a - m);
    const wb = Mathf.exp2(b - m);
    const sum = wa + wb;
    const ca = f32x4.splat(wa / sum);
    const cb = f32x4.splat(wb / sum);
    for (let e = 0; e < D4; e += 4) {
      const p = <usize>e << 2;
      v128.store(v + row + p, f32x4.add(f32x4.mul(ca, v128.load(va + row + p)), f32x4.mul(cb, v128.load(vb + row + p))));
    }
    for (let e = D4; e < D; e++) {
      const p = <usize>e << 2;
      store<f32>(v + row + p, (wa / sum) * load<f32>(va + row + p) + (wb / sum) * load<f32>(vb + row + p));
    }
    store<f32>(s + (<usize>r << 2), m + Mathf.log2(sum));
  }
}
