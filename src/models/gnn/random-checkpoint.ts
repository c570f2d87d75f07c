/**
 * Writes a GNN checkpoint with random weights (config.json + model.safetensors, f32): Glorot-scaled
 * normal weights, small normal biases, deterministic from the seed. Tests load it both through
 * `GnnModel` and into their float64 references.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeSafetensors } from '../../io/safetensors-writer.js';
import { Rng } from '../../util/rng.js';
import { type GnnConfig, gnnConfigJson } from './gnn-config.js';
import { gnnTensorShapes } from './gnn-tensors.js';

/** The random tensors for `cfg`, by name. */
export function randomGnnWeights(cfg: GnnConfig, seed: number): Map<string, Float32Array> {
  const rng = new Rng(seed);
  const out = new Map<string, Float32Array>();
  for (const [name, shape] of gnnTensorShapes(cfg)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const scale = name.endsWith('bias') ? 0.1 : Math.sqrt(2 / (shape[0]! + shape[shape.length - 1]!));
    out.set(
      name,
      Float32Array.from(rng.normals(n), (v) => v * scale),
    );
  }
  return out;
}

export async function writeRandomGnn(dir: string, cfg: GnnConfig, seed: number): Promise<Map<string, Float32Array>> {
  const weights = randomGnnWeights(cfg, seed);
  const shapes = gnnTensorShapes(cfg);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'config.json'), `${JSON.stringify(gnnConfigJson(cfg), null, 1)}\n`);
  await writeSafetensors(
    join(dir, 'model.safetensors'),
    [...weights].map(([name, data]) => [name, { dtype: 'f32', shape: shapes.get(name)!, data }] as const),
  );
  return weights;
}
