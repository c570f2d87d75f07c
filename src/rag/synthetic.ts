/** Seeded clustered vectors: Gaussian blobs around random centers, the shape IVF is built for. */
import { Rng } from '../util/rng.js';

export function clusteredVectors(seed: number, n: number, d: number, blobs: number, spread = 0.3): Float32Array {
  const rng = new Rng(seed);
  const centers = rng.normals(blobs * d);
  const out = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const b = Math.floor(rng.next() * blobs);
    for (let j = 0; j < d; j++) out[i * d + j] = centers[b * d + j]! + spread * rng.normal();
  }
  return out;
}
