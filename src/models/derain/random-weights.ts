/** Random de-raining weights for tests and benchmarks (seeded; conv/linear scaled by 1/√fan-in, norms near 1). */
import { Rng } from '../../util/rng.js';
import { type DerainConfig, derainWeightShapes } from './derain-config.js';

export function randomDerainWeights(cfg: DerainConfig, seed: number): Map<string, Float32Array> {
  const rng = new Rng(seed);
  const out = new Map<string, Float32Array>();
  for (const [name, shape] of derainWeightShapes(cfg)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const fanIn = shape.length > 1 ? n / shape[0]! : 1;
    const isNorm = name.includes('norm') && name.endsWith('.weight');
    const v = rng.normals(n, shape.length > 1 ? 1 / Math.sqrt(fanIn) : 0.1);
    out.set(
      name,
      Float32Array.from(v, (e) => (isNorm ? 1 + e : e)),
    );
  }
  return out;
}
