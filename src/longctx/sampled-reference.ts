/**
 * The float64 oracle of the sampled scan (sampled-scan.ts), written apart from it: the candidate
 * rule over stored codes, and the importance-weighted state over given candidates with the
 * sampling probability from the angle between the query and the stored (f16-decoded) key.
 */
import { bitCollisionProbability, logSamplingProbability } from './collision.js';
import { LOG_U_FLOOR } from './sampling-table.js';
import type { LshConfig } from './simhash.js';

/** Keys in [lo, hi) whose codes (`codesOf(i)`, L values) equal `queryCodes` in ≥ T tables, ascending. */
export function candidatesReference(
  codesOf: (i: number) => ArrayLike<number>,
  queryCodes: ArrayLike<number>,
  lo: number,
  hi: number,
  minCollisions: number,
): number[] {
  const out: number[] = [];
  for (let i = lo; i < hi; i++) {
    const c = codesOf(i);
    let hits = 0;
    for (let t = 0; t < queryCodes.length; t++) if (c[t] === queryCodes[t]) hits++;
    if (hits >= minCollisions) out.push(i);
  }
  return out;
}

/**
 * Σ w_i v_i / Σ w_i and log2 Σ w_i over `ids`, w_i = exp(scale·q·k_i)/u_i; `keys`/`values` are rows
 * indexed by key id.
 */
export function sampledStateReference(
  q: ArrayLike<number>,
  keys: ArrayLike<number>,
  values: ArrayLike<number>,
  dim: number,
  valueDim: number,
  ids: ArrayLike<number>,
  scale: number,
  config: LshConfig,
): { o: Float64Array; lse: number } {
  const o = new Float64Array(valueDim);
  if (ids.length === 0) return { o, lse: -Infinity };
  let qn = 0;
  for (let e = 0; e < dim; e++) qn += q[e]! ** 2;
  qn = Math.sqrt(qn);
  const logw = Array.from(ids, (i) => {
    let dot = 0;
    let kn = 0;
    for (let e = 0; e < dim; e++) {
      dot += q[e]! * keys[i * dim + e]!;
      kn += keys[i * dim + e]! ** 2;
    }
    const denom = qn * Math.sqrt(kn);
    const p = bitCollisionProbability(denom > 0 ? dot / denom : 0);
    const logU = Math.max(logSamplingProbability(p, config.bits, config.tables, config.minCollisions), LOG_U_FLOOR);
    return scale * dot - logU;
  });
  const max = Math.max(...logw);
  let sum = 0;
  Array.from(ids).forEach((i, j) => {
    const w = Math.exp(logw[j]! - max);
    sum += w;
    for (let e = 0; e < valueDim; e++) o[e]! += w * values[i * valueDim + e]!;
  });
  for (let e = 0; e < valueDim; e++) o[e]! /= sum;
  return { o, lse: (max + Math.log(sum)) * Math.LOG2E };
}
