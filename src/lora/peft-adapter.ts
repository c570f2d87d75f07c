/**
 * Loads a PEFT LoRA folder (`adapter_config.json` + `adapter_model.safetensors`) into host f32
 * matrices, checked against the base model's projection shapes. Any tensor the folder holds that
 * plain LoRA does not use (a DoRA magnitude, a trained bias, an embedding adapter) is an error: it
 * would change the outputs if it were ignored.
 */
import type { Folder } from '../platform/byte-source.js';
import { platform } from '../platform/current.js';
import { SafetensorsFile } from '../io/safetensors-file.js';
import { isFloat, toFloat64 } from '../tensor/dtype.js';
import { type LoraBaseShapes, type LoraModule, peftTensorName } from './modules.js';
import { LoraConfigError, type LoraConfig, parseLoraConfig } from './peft-config.js';

/** One projection's pair: A is [rank, in] row-major, B is [out, rank]. */
export interface LoraPair {
  readonly a: Float32Array;
  readonly b: Float32Array;
}

export interface LoraAdapter {
  readonly name: string;
  readonly config: LoraConfig;
  /** layers[l].get(module), for each targeted module. */
  readonly layers: readonly ReadonlyMap<LoraModule, LoraPair>[];
  /** Bytes of the f32 host copy (what the registry's budget counts once uploaded). */
  readonly bytes: number;
}

export class LoraAdapterError extends Error {
  constructor(
    readonly file: string,
    problem: string,
  ) {
    super(`'${file}': ${problem}`);
    this.name = 'LoraAdapterError';
  }
}

async function openFolder(location: string | Folder): Promise<Folder> {
  if (typeof location !== 'string') return location;
  const { folder, file } = await platform.locate(location);
  if (file !== null) throw new LoraAdapterError(location, 'is a file; pass the adapter folder');
  return folder;
}

/**
 * @example
 * const a = await loadPeftAdapter('adapters/moby', 'moby', llamaLoraShapes(cfg));
 */
export async function loadPeftAdapter(
  location: string | Folder,
  name: string,
  base: LoraBaseShapes,
): Promise<LoraAdapter> {
  const folder = await openFolder(location);
  const cfgFile = folder.locate('adapter_config.json');
  const text = await folder.readText('adapter_config.json');
  if (text === null) throw new LoraAdapterError(cfgFile, 'not found: a PEFT adapter folder holds adapter_config.json');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new LoraConfigError(cfgFile, '(root)', `not valid JSON (${(e as Error).message})`);
  }
  const config = parseLoraConfig(json, cfgFile);
  const wFile = folder.locate('adapter_model.safetensors');
  const source = await folder.open('adapter_model.safetensors');
  if (source === null)
    throw new LoraAdapterError(
      wFile,
      'not found (adapter_model.bin is not read: re-save with safe_serialization=True)',
    );
  const st = await SafetensorsFile.open(source);
  try {
    const expected = new Set<string>();
    for (let l = 0; l < base.numLayers; l++)
      for (const m of config.targets) for (const p of ['A', 'B'] as const) expected.add(peftTensorName(l, m, p));
    const extra = [...st.tensors.keys(), ...st.unsupported.keys()].filter((t) => !expected.has(t));
    if (extra.length > 0)
      throw new LoraAdapterError(
        wFile,
        `holds tensors plain LoRA over ${config.targets.join('/')} does not use: ${extra.slice(0, 4).join(', ')}` +
          `${extra.length > 4 ? ` and ${extra.length - 4} more` : ''} (a base of ${base.numLayers} layers expects none)`,
      );
    const layers: Map<LoraModule, LoraPair>[] = [];
    let bytes = 0;
    for (let l = 0; l < base.numLayers; l++) {
      const layer = new Map<LoraModule, LoraPair>();
      for (const m of config.targets) {
        const [out, inn] = base.modules[m];
        const read = async (part: 'A' | 'B', shape: readonly [number, number]) => {
          const t = peftTensorName(l, m, part);
          const info = st.tensors.get(t);
          if (!info) throw new LoraAdapterError(wFile, `missing tensor '${t}' (target_modules lists ${m})`);
          if (!isFloat(info.dtype)) throw new LoraAdapterError(wFile, `'${t}' is ${info.dtype}, not a float type`);
          if (info.shape.length !== 2 || info.shape[0] !== shape[0] || info.shape[1] !== shape[1])
            throw new LoraAdapterError(
              wFile,
              `'${t}' has shape [${info.shape}], the base model needs [${shape}] (r=${config.rank}, ${m} is [${out}, ${inn}])`,
            );
          return Float32Array.from(toFloat64(info.dtype, await st.read(t)));
        };
        const pair = { a: await read('A', [config.rank, inn]), b: await read('B', [out, config.rank]) };
        bytes += (pair.a.length + pair.b.length) * 4;
        layer.set(m, pair);
      }
      layers.push(layer);
    }
    return { name, config, layers, bytes };
  } finally {
    await st.close();
  }
}
