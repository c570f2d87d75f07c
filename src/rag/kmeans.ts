/**
 * k-means for the IVF coarse quantizer: k-means++ seeding from a fixed seed, then Lloyd steps.
 * The assignment step (every training point against every centroid, the O(n·k·d) part) runs on a
 * backend through `ivf_scan` when one is given and supports it, else in plain loops here. Seeding
 * stays on the CPU: it picks one centroid at a time from the distances to the previous pick, a
 * sequence of tiny dependent steps that a GPU round trip per step would only slow down.
 */
import type { Backend } from '../backends/backend.js';
import { Rng } from '../util/rng.js';

export interface KmeansOptions {
  readonly k: number;
  readonly seed: number;
  /** Lloyd steps after seeding (default 20). */
  readonly iterations?: number;
  /** Training points sampled from the input, as FAISS does: 256 per centroid by default. */
  readonly maxPointsPerCentroid?: number;
  /** Runs the assignment step; absent, or without `ivf_scan`, the CPU loops run it. */
  readonly backend?: Backend;
}

export interface KmeansResult {
  /** [k, d] */
  readonly centroids: Float32Array;
  /** Where each assignment step ran. */
  readonly assignedOn: 'cpu' | 'backend';
}

function sqDist(a: Float32Array, ai: number, b: Float32Array, bi: number, d: number): number {
  let s = 0;
  for (let j = 0; j < d; j++) {
    const t = a[ai + j]! - b[bi + j]!;
    s += t * t;
  }
  return s;
}

/** Nearest centroid of each point, in plain loops. */
export function assignCpu(points: Float32Array, centroids: Float32Array, d: number, labels: Int32Array): void {
  const n = points.length / d;
  const k = centroids.length / d;
  for (let i = 0; i < n; i++) {
    let best = 0;
    let bestD = Infinity;
    for (let c = 0; c < k; c++) {
      const s = sqDist(points, i * d, centroids, c * d, d);
      if (s < bestD) {
        bestD = s;
        best = c;
      }
    }
    labels[i] = best;
  }
}

/** Nearest centroid of each point through `ivf_scan` on `backend`, in row chunks that keep the distance matrix small. */
export async function assignOnBackend(
  backend: Backend,
  points: Float32Array,
  centroids: Float32Array,
  d: number,
  labels: Int32Array,
): Promise<void> {
  const n = points.length / d;
  const k = centroids.length / d;
  const cT = backend.alloc({ dtype: 'f32', shape: [k, d] }, 'kmeans.centroids', 'rag');
  backend.write(cT, centroids);
  const chunk = Math.max(1, Math.min(n, Math.floor((16 << 20) / (4 * k))));
  try {
    for (let at = 0; at < n; at += chunk) {
      const rows = Math.min(chunk, n - at);
      const q = backend.alloc({ dtype: 'f32', shape: [rows, d] }, 'kmeans.points', 'rag');
      const out = backend.alloc({ dtype: 'f32', shape: [rows, k] }, 'kmeans.dist', 'rag');
      try {
        backend.write(q, points.subarray(at * d, (at + rows) * d));
        backend.run('ivf_scan', {}, [q, cT], [out]);
        const dist = (await backend.read(out)) as Float32Array;
        for (let i = 0; i < rows; i++) {
          let best = 0;
          for (let c = 1; c < k; c++) if (dist[i * k + c]! < dist[i * k + best]!) best = c;
          labels[at + i] = best;
        }
      } finally {
        backend.free(q);
        backend.free(out);
      }
    }
  } finally {
    backend.free(cT);
  }
}

/** k-means++: each next centroid drawn with probability proportional to the squared distance to the nearest one chosen. */
export function kmeansPlusPlus(points: Float32Array, d: number, k: number, rng: Rng): Float32Array {
  const n = points.length / d;
  const centroids = new Float32Array(k * d);
  const first = Math.floor(rng.next() * n);
  centroids.set(points.subarray(first * d, (first + 1) * d), 0);
  const near = new Float64Array(n);
  for (let i = 0; i < n; i++) near[i] = sqDist(points, i * d, centroids, 0, d);
  for (let c = 1; c < k; c++) {
    let total = 0;
    for (let i = 0; i < n; i++) total += near[i]!;
    let pick = n - 1;
    if (total > 0) {
      let r = rng.next() * total;
      for (let i = 0; i < n; i++) {
        r -= near[i]!;
        if (r < 0) {
          pick = i;
          break;
        }
      }
    } else pick = Math.floor(rng.next() * n);
    centroids.set(points.subarray(pick * d, (pick + 1) * d), c * d);
    for (let i = 0; i < n; i++) {
      const s = sqDist(points, i * d, centroids, c * d, d);
      if (s < near[i]!) near[i] = s;
    }
  }
  return centroids;
}

/** A seeded sample of `m` distinct rows (all rows when m ≥ n), in their original order. */
function sampleRows(points: Float32Array, d: number, m: number, rng: Rng): Float32Array {
  const n = points.length / d;
  if (m >= n) return points;
  const idx = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = 0; i < m; i++) {
    const j = i + Math.floor(rng.next() * (n - i));
    const t = idx[i]!;
    idx[i] = idx[j]!;
    idx[j] = t;
  }
  const chosen = idx.subarray(0, m).sort();
  const out = new Float32Array(m * d);
  chosen.forEach((r, i) => out.set(points.subarray(r * d, (r + 1) * d), i * d));
  return out;
}

export async function kmeans(points: Float32Array, d: number, opts: KmeansOptions): Promise<KmeansResult> {
  const n = points.length / d;
  const { k, seed } = opts;
  if (k < 1 || k > n) throw new Error(`kmeans: k=${k} must be in [1, n=${n}]`);
  const rng = new Rng(seed);
  const train = sampleRows(points, d, k * (opts.maxPointsPerCentroid ?? 256), rng);
  const m = train.length / d;
  const centroids = kmeansPlusPlus(train, d, k, rng);
  const onBackend =
    opts.backend?.supportsOp('ivf_scan', {}, [
      { dtype: 'f32', shape: [m, d] },
      { dtype: 'f32', shape: [k, d] },
    ]) === true && opts.backend.name !== 'cpu';
  const labels = new Int32Array(m);
  const sums = new Float64Array(k * d);
  const counts = new Int32Array(k);
  for (let it = 0; it < (opts.iterations ?? 20); it++) {
    if (onBackend) await assignOnBackend(opts.backend!, train, centroids, d, labels);
    else assignCpu(train, centroids, d, labels);
    sums.fill(0);
    counts.fill(0);
    for (let i = 0; i < m; i++) {
      const c = labels[i]!;
      counts[c]!++;
      for (let j = 0; j < d; j++) sums[c * d + j]! += train[i * d + j]!;
    }
    for (let c = 0; c < k; c++) {
      if (counts[c] === 0) {
        // an empty cluster restarts at a random training point rather than staying dead
        const r = Math.floor(rng.next() * m);
        centroids.set(train.subarray(r * d, (r + 1) * d), c * d);
        continue;
      }
      for (let j = 0; j < d; j++) centroids[c * d + j] = sums[c * d + j]! / counts[c]!;
    }
  }
  return { centroids, assignedOn: onBackend ? 'backend' : 'cpu' };
}
