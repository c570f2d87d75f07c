// Nearest-neighbour scans of IVF clusters: squared L2 distances of queries to blocks of f32 vectors,
// each query's k nearest kept in a bounded max-heap ordered by (distance, id), as the host's TopK
// orders them, so every path breaks ties alike.
//
// Distances are summed as (q − x)² rather than ‖q‖² + ‖x‖² − 2q·x: the expansion cancels digits
// when a neighbour is close, and the scan must rank as float64 exact search does. Four queries are
// scanned against each vector row at once, so a row is loaded once for four distances.
//
// Layout (all i32 unless said):
//   groups [g][4]: first vector row, rows m, first pair, pairs n — a block of vectors and the
//                  queries that scan it;
//   pairs  [p][2]: query index, heap slot;
//   heaps: slot s owns k f32 distances at hd + s·k·4 and k ids at hi + s·k·4 (heap order).
// `ivfScanGroups` splits by groups, `ivfMergeSlots` by queries; neither writes memory another row
// of the same call writes, so any thread may take any row range.

const EMPTY_ID: i32 = 0x7fffffff;

@inline function worse(hd: usize, hi: usize, a: i32, b: i32): bool {
  const da = load<f32>(hd + (<usize>a << 2));
  const db = load<f32>(hd + (<usize>b << 2));
  return da > db || (da == db && load<i32>(hi + (<usize>a << 2)) > load<i32>(hi + (<usize>b << 2)));
}

@inline function swap(hd: usize, hi: usize, a: i32, b: i32): void {
  const pa = <usize>a << 2;
  const pb = <usize>b << 2;
  const d = load<f32>(hd + pa);
  store<f32>(hd + pa, load<f32>(hd + pb));
  store<f32>(hd + pb, d);
  const i = load<i32>(hi + pa);
  store<i32>(hi + pa, load<i32>(hi + pb));
  store<i32>(hi + pb, i);
}

@inline function heapInit(hd: usize, hi: usize, k: i32): void {
  for (let j = 0; j < k; j++) {
    store<f32>(hd + (<usize>j << 2), Infinity);
    store<i32>(hi + (<usize>j << 2), EMPTY_ID);
  }
}

function siftDown(hd: usize, hi: usize, size: i32, i: i32): void {
  for (;;) {
    const l = 2 * i + 1;
    const r = l + 1;
    let w = i;
    if (l < size && worse(hd, hi, l, w)) w = l;
    if (r < size && worse(hd, hi, r, w)) w = r;
    if (w == i) return;
    swap(hd, hi, i, w);
    i = w;
  }
}

// A full heap of k (empty slots hold (+∞, EMPTY_ID), worse than any real candidate).
@inline function heapPush(hd: usize, hi: usize, k: i32, d: f32, id: i32): void {
  const top = load<f32>(hd);
  if (d > top || (d == top && id >= load<i32>(hi))) return;
  store<f32>(hd, d);
  store<i32>(hi, id);
  siftDown(hd, hi, k, 0);
}

@inline function l2sq1(q: usize, x: usize, d: i32): f32 {
  const d4 = d & ~3;
  let acc = f32x4.splat(0);
  for (let j = 0; j < d4; j += 4) {
    const o = <usize>j << 2;
    const t = f32x4.sub(v128.load(q + o), v128.load(x + o));
    acc = f32x4.add(acc, f32x4.mul(t, t));
  }
  let s = f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1) + f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3);
  for (let j = d4; j < d; j++) {
    const t = load<f32>(q + (<usize>j << 2)) - load<f32>(x + (<usize>j << 2));
    s += t * t;
  }
  return s;
}

@inline function hsum(v: v128): f32 {
  return f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3);
}

/**
 * For groups [g0, g1): every vector row of the group against every query of its pairs, each
 * distance offered to the pair's heap (initialised here). q: queries [·, d] f32; x: vectors
 * [·, d] f32; ids: one i32 per vector row.
 * Kept as one function (88 lines): every split into @inline helpers tried changed the optimised wasm's locals.
 */
export function ivfScanGroups(
  q: usize,
  d: i32,
  x: usize,
  ids: usize,
  groups: usize,
  pairs: usize,
  hd: usize,
  hi: usize,
  k: i32,
  g0: i32,
  g1: i32,
): void {
  const rowBytes = <usize>d << 2;
  const heapBytes = <usize>k << 2;
  const d4 = d & ~3;
  for (let g = g0; g < g1; g++) {
    const gp = groups + (<usize>g << 4);
    const row0 = load<i32>(gp);
    const m = load<i32>(gp, 4);
    const p0 = load<i32>(gp, 8);
    const n = load<i32>(gp, 12);
    for (let p = p0; p < p0 + n; p++) {
      const s = <usize>load<i32>(pairs + (<usize>p << 3), 4);
      heapInit(hd + s * heapBytes, hi + s * heapBytes, k);
    }
    const n4 = n & ~3;
    for (let r = 0; r < m; r++) {
      const xr = x + <usize>(row0 + r) * rowBytes;
      const id = load<i32>(ids + (<usize>(row0 + r) << 2));
      for (let p = p0; p < p0 + n4; p += 4) {
        const pp = pairs + (<usize>p << 3);
        const qa = q + <usize>load<i32>(pp) * rowBytes;
        const qb = q + <usize>load<i32>(pp, 8) * rowBytes;
        const qc = q + <usize>load<i32>(pp, 16) * rowBytes;
        const qd = q + <usize>load<i32>(pp, 24) * rowBytes;
        let a0 = f32x4.splat(0);
        let a1 = f32x4.splat(0);
        let a2 = f32x4.splat(0);
        let a3 = f32x4.splat(0);
        for (let j = 0; j < d4; j += 4) {
          const o = <usize>j << 2;
          const xv = v128.load(xr + o);
          const t0 = f32x4.sub(v128.load(qa + o), xv);
          const t1 = f32x4.sub(v128.load(qb + o), xv);
          const t2 = f32x4.sub(v128.load(qc + o), xv);
          const t3 = f32x4.sub(v128.load(qd + o), xv);
          a0 = f32x4.add(a0, f32x4.mul(t0, t0));
          a1 = f32x4.add(a1, f32x4.mul(t1, t1));
          a2 = f32x4.add(a2, f32x4.mul(t2, t2));
          a3 = f32x4.add(a3, f32x4.mul(t3, t3));
        }
        let s0 = hsum(a0);
        let s1 = hsum(a1);
        let s2 = hsum(a2);
        let s3 = hsum(a3);
        for (let j = d4; j < d; j++) {
          const o = <usize>j << 2;
          const xv = load<f32>(xr + o);
          const t0 = load<f32>(qa + o) - xv;
          const t1 = load<f32>(qb + o) - xv;
          const t2 = load<f32>(qc + o) - xv;
          const t3 = load<f32>(qd + o) - xv;
          s0 += t0 * t0;
          s1 += t1 * t1;
          s2 += t2 * t2;
          s3 += t3 * t3;
        }
        const sa = <usize>load<i32>(pp, 4) * heapBytes;
        const sb = <usize>load<i32>(pp, 12) * heapBytes;
        const sc = <usize>load<i32>(pp, 20) * heapBytes;
        const sd = <usize>load<i32>(pp, 28) * heapBytes;
        heapPush(hd + sa, hi + sa, k, s0, id);
        heapPush(hd + sb, hi + sb, k, s1, id);
        heapPush(hd + sc, hi + sc, k, s2, id);
        heapPush(hd + sd, hi + sd, k, s3, id);
      }
      for (let p = p0 + n4; p < p0 + n; p++) {
        const pp = pairs + (<usize>p << 3);
        const s = l2sq1(q + <usize>load<i32>(pp) * rowBytes, xr, d);
        const so = <usize>load<i32>(pp, 4) * heapBytes;
        heapPush(hd + so, hi + so, k, s, id);
      }
    }
  }
}

/**
 * For queries [q0, q1): the candidates of the query's heap slots [slotOff[qi], slotOff[qi + 1])
 * merged into its k nearest, written nearest first to outD/outI [qi, k] (slots past the
 * candidates: +∞ and id −1). The output row is the merge heap itself, then sorted in place.
 */
export function ivfMergeSlots(hd: usize, hi: usize, slotOff: usize, k: i32, outD: usize, outI: usize, q0: i32, q1: i32): void {
  const heapBytes = <usize>k << 2;
  for (let qi = q0; qi < q1; qi++) {
    const od = outD + <usize>qi * heapBytes;
    const oi = outI + <usize>qi * heapBytes;
    heapInit(od, oi, k);
    const s0 = load<i32>(slotOff + (<usize>qi << 2));
    const s1 = load<i32>(slotOff + (<usize>(qi + 1) << 2));
    const c0 = <usize>s0 * <usize>k;
    const c1 = <usize>s1 * <usize>k;
    for (let c = c0; c < c1; c++) heapPush(od, oi, k, load<f32>(hd + (c << 2)), load<i32>(hi + (c << 2)));
    // heap sort: the worst goes to the end, leaving the row nearest first
    for (let size = k - 1; size > 0; size--) {
      swap(od, oi, 0, size);
      siftDown(od, oi, size, 0);
    }
    for (let j = 0; j < k; j++) if (load<i32>(oi + (<usize>j << 2)) == EMPTY_ID) store<i32>(oi + (<usize>j << 2), -1);
  }
}

/** out[i, r] = Σ_j (q[i, j] − x[r, j])² for queries [q0, q1): x [m, d] f32, out [·, m] f32. */
export function l2Distances(q: usize, x: usize, out: usize, m: i32, d: i32, q0: i32, q1: i32): void {
  const rowBytes = <usize>d << 2;
  for (let i = q0; i < q1; i++) {
    const qi = q + <usize>i * rowBytes;
    const oi = out + ((<usize>i * <usize>m) << 2);
    for (let r = 0; r < m; r++) store<f32>(oi + (<usize>r << 2), l2sq1(qi, x + <usize>r * rowBytes, d));
  }
}
