/**
 * Writes PEFT LoRA folders with random weights, in exactly the layout `peft`'s `save_pretrained`
 * produces (adapter_config.json, adapter_model.safetensors, names without the adapter name), so
 * the same folder loads in Tessera and in PyTorch. B is random too (PEFT initializes it to zero,
 * which would make an untrained adapter a no-op and every test blind).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeSafetensors, type TensorToWrite } from '../io/safetensors-writer.js';
import { toHost } from '../tensor/dtype.js';
import { Rng } from '../util/rng.js';
import { type LoraBaseShapes, type LoraModule, peftTensorName } from './modules.js';

export interface RandomAdapterOptions {
  readonly rank: number;
  readonly alpha?: number;
  readonly useRslora?: boolean;
  readonly targets: readonly LoraModule[];
  readonly seed: number;
  readonly dtype?: 'f32' | 'f16' | 'bf16';
  /** Standard deviation of the delta x·Aᵀ·Bᵀ·scale relative to x's (default 0.5: clearly visible). */
  readonly strength?: number;
  readonly baseModel?: string;
}

export async function writeRandomPeftAdapter(
  folder: string,
  base: LoraBaseShapes,
  o: RandomAdapterOptions,
): Promise<void> {
  const dtype = o.dtype ?? 'f32';
  const alpha = o.alpha ?? 2 * o.rank;
  const rng = new Rng(o.seed);
  const scale = o.useRslora ? alpha / Math.sqrt(o.rank) : alpha / o.rank;
  const strength = o.strength ?? 0.5;
  const tensors: [string, TensorToWrite][] = [];
  for (let l = 0; l < base.numLayers; l++)
    for (const m of o.targets) {
      const [out, inn] = base.modules[m];
      // A at 1/sqrt(in) keeps x·Aᵀ at unit size; B at strength/(scale·sqrt(r)) then sets the delta's size
      const aStd = 1 / Math.sqrt(inn);
      const bStd = strength / (scale * Math.sqrt(o.rank));
      tensors.push([
        peftTensorName(l, m, 'A'),
        { dtype, shape: [o.rank, inn], data: toHost(dtype, rng.normals(o.rank * inn, aStd)) },
      ]);
      tensors.push([
        peftTensorName(l, m, 'B'),
        { dtype, shape: [out, o.rank], data: toHost(dtype, rng.normals(out * o.rank, bStd)) },
      ]);
    }
  await mkdir(folder, { recursive: true });
  const config = {
    peft_type: 'LORA',
    task_type: 'CAUSAL_LM',
    base_model_name_or_path: o.baseModel ?? null,
    r: o.rank,
    lora_alpha: alpha,
    lora_dropout: 0,
    use_rslora: o.useRslora ?? false,
    target_modules: [...o.targets],
    bias: 'none',
    fan_in_fan_out: false,
    modules_to_save: null,
    use_dora: false,
    init_lora_weights: true,
    inference_mode: true,
    rank_pattern: {},
    alpha_pattern: {},
  };
  await writeFile(join(folder, 'adapter_config.json'), JSON.stringify(config, null, 2));
  await writeSafetensors(join(folder, 'adapter_model.safetensors'), tensors, { format: 'pt' });
}
