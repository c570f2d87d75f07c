/** Tiny random de-raining networks written as scripts/derain/train.py writes them (for API, page and CLI tests). */
import { join } from 'node:path';
import { writeSafetensors } from '../../../src/io/safetensors-writer.js';
import {
  type DerainConfig,
  derainConfigToMetadata,
  derainWeightShapes,
} from '../../../src/models/derain/derain-config.js';
import { prenetMetadata, prenetWeightShapes } from '../../../src/models/derain/prenet.js';
import { restormerMetadata, restormerWeightShapes } from '../../../src/models/derain/restormer.js';
import { Rng } from '../../../src/util/rng.js';

export const TINY_FILTER: DerainConfig = { channels: [4, 8, 8], heads: 2, reference: true, eps: 1e-5 };

/** A network's random weights (norm weights and temperatures near 1) as a .safetensors file; returns them in float64. */
export async function writeNet(
  dir: string,
  file: string,
  shapes: [string, number[]][],
  meta: Record<string, string>,
  rng: Rng,
) {
  const ws = shapes.map(([n, sh]) => {
    const count = sh.reduce((a, b) => a * b, 1);
    const data = Float32Array.from(rng.normals(count, 0.2), (v) =>
      n.includes('norm.weight') || n.endsWith('temperature') ? 1 + v : v,
    );
    return [n, { dtype: 'f32' as const, shape: sh, data }] as const;
  });
  await writeSafetensors(join(dir, file), ws, meta);
  return new Map(ws.map(([n, t]) => [n, Float64Array.from(t.data)]));
}

/** filter, refiner, prenet and transformer .safetensors in `dir`; returns the filter's weights in float64. */
export async function writeTinyNetworks(dir: string, seed: number): Promise<Map<string, Float64Array>> {
  const rng = new Rng(seed);
  const filter = await writeNet(
    dir,
    'filter.safetensors',
    derainWeightShapes(TINY_FILTER),
    derainConfigToMetadata(TINY_FILTER),
    rng,
  );
  const refiner = { ...TINY_FILTER, reference: false };
  await writeNet(dir, 'refiner.safetensors', derainWeightShapes(refiner), derainConfigToMetadata(refiner), rng);
  const restormer = { channels: 4, heads: [1, 2] as [number, number] };
  await writeNet(dir, 'transformer.safetensors', restormerWeightShapes(restormer), restormerMetadata(restormer), rng);
  const prenet = { channels: 4, iters: 2, blocks: 1 };
  await writeNet(dir, 'prenet.safetensors', prenetWeightShapes(prenet), prenetMetadata(prenet), rng);
  return filter;
}
