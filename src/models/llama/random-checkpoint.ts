/**
 * Writes HF-format Llama-family checkpoints with random weights: `config.json` plus
 * `model.safetensors` (or shards and an index). Tests, CI fixtures and benchmarks use it so that
 * Tessera and PyTorch can load the very same folder; tensors are produced one at a time, so a
 * checkpoint larger than RAM can be written.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { bytesPerElement, numel, toHost, type DType } from '../../tensor/dtype.js';
import { Rng } from '../../util/rng.js';
import { parseLlamaConfig } from './llama-config.js';
import { llamaTensorShapes } from './llama-tensors.js';
import { SAFETENSORS_INDEX } from '../../io/safetensors-checkpoint.js';
import { writeSafetensorsLazily } from '../../io/safetensors-writer.js';

export interface RandomCheckpointOptions {
  readonly dtype?: 'f32' | 'f16' | 'bf16';
  readonly seed?: number;
  /** Start a new shard when the current one would pass this many bytes (default: one file). */
  readonly maxShardBytes?: number;
}

/**
 * @example
 * await writeRandomLlamaCheckpoint('fixtures/tiny-qwen2', { model_type: 'qwen2', hidden_size: 64, ... }, { dtype: 'bf16', seed: 1 });
 */
export async function writeRandomLlamaCheckpoint(
  folder: string,
  hfConfig: Record<string, unknown>,
  options: RandomCheckpointOptions = {},
): Promise<void> {
  const config = parseLlamaConfig(hfConfig, join(folder, 'config.json'));
  const dtype: DType = options.dtype ?? 'bf16';
  const rng = new Rng(options.seed ?? 0);
  const layout = [...llamaTensorShapes(config)].map(([name, shape]) => ({ name, dtype, shape }));
  const limit = options.maxShardBytes ?? Infinity;
  const shards: (typeof layout)[] = [[]];
  let size = 0;
  for (const t of layout) {
    const bytes = numel(t.shape) * bytesPerElement(dtype);
    if (size > 0 && size + bytes > limit) {
      shards.push([]);
      size = 0;
    }
    shards[shards.length - 1]!.push(t);
    size += bytes;
  }
  await mkdir(folder, { recursive: true });
  await writeFile(
    join(folder, 'config.json'),
    JSON.stringify({ ...hfConfig, torch_dtype: { f32: 'float32', f16: 'float16', bf16: 'bfloat16' }[dtype] }, null, 2),
  );
  // Norm weights near 1 and projections at 1/sqrt(fan-in), so a forward pass stays in range.
  const produce = (name: string, shape: readonly number[]) => {
    const n = numel(shape);
    if (name.endsWith('norm.weight'))
      return toHost(
        dtype,
        Array.from({ length: n }, () => 1 + 0.1 * rng.normal()),
      );
    const scale = 1 / Math.sqrt(shape[shape.length - 1] ?? 1);
    return toHost(dtype, rng.normals(n, name.endsWith('.bias') ? 0.02 : scale));
  };
  const fileName = (i: number) =>
    shards.length === 1
      ? 'model.safetensors'
      : `model-${String(i + 1).padStart(5, '0')}-of-${String(shards.length).padStart(5, '0')}.safetensors`;
  const weightMap: Record<string, string> = {};
  let total = 0;
  for (let i = 0; i < shards.length; i++) {
    const shard = shards[i]!;
    await writeSafetensorsLazily(join(folder, fileName(i)), shard, (k) => produce(shard[k]!.name, shard[k]!.shape), {
      format: 'pt',
    });
    for (const t of shard) {
      weightMap[t.name] = fileName(i);
      total += numel(t.shape) * bytesPerElement(dtype);
    }
  }
  if (shards.length > 1)
    await writeFile(
      join(folder, SAFETENSORS_INDEX),
      JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 2),
    );
}
