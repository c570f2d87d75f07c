/**
 * Seeded attention inputs for a long context where a few keys matter: Gaussian keys and values,
 * and `heavy` keys placed near the query's direction so their scores stand out (the shape of real
 * decode attention: a handful of large weights over a long tail that still carries mass).
 */
import { Rng } from '../util/rng.js';

export interface HeavyKeyCase {
  q: Float32Array;
  keys: Float32Array;
  values: Float32Array;
  n: number;
  dim: number;
  /** Positions of the heavy keys (away from the sinks and the window). */
  heavyIds: number[];
}

/** `heavyScore`: the scaled score q·k/√d of a heavy key (ordinary keys have scores ~ N(0, 1)). */
export function heavyKeyCase(seed: number, n: number, dim: number, heavy: number, heavyScore = 10): HeavyKeyCase {
  const rng = new Rng(seed);
  const q = Float32Array.from(rng.normals(dim));
  const keys = Float32Array.from(rng.normals(n * dim));
  const values = Float32Array.from(rng.normals(n * dim));
  let qn = 0;
  for (let e = 0; e < dim; e++) qn += q[e]! ** 2;
  qn = Math.sqrt(qn);
  const heavyIds: number[] = [];
  for (let h = 0; h < heavy; h++) {
    const i = Math.floor(n * (0.1 + (0.8 * (h + rng.next())) / heavy));
    heavyIds.push(i);
    // along q so that q·k/√d = heavyScore, plus noise of a tenth of an ordinary key's size
    const along = (heavyScore * Math.sqrt(dim)) / qn;
    for (let e = 0; e < dim; e++) keys[i * dim + e] = (along * q[e]!) / qn + 0.1 * rng.normal();
  }
  return { q, keys, values, n, dim, heavyIds };
}
