/**
 * One entry point for "a model the user pointed at": an HF folder (config.json + safetensors +
 * tokenizer files) or a GGUF file. Returns a validated config, an HF-named tensor source whose
 * tensors were checked against that config, and the tokenizer when one is there.
 */
import { readdir, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { CheckpointError, describeError } from './errors.js';
import { GgufFile, type GgufOpenOptions } from './gguf-file.js';
import { GgufAsHf, ggufToLlamaConfig } from './gguf-llama.js';
import { ggufTokenizer } from './gguf-tokenizer.js';
import { readLlamaConfig, type LlamaConfig } from './llama-config.js';
import { checkLlamaTensors } from './llama-tensors.js';
import { openSafetensors } from './safetensors-checkpoint.js';
import type { TensorSource } from './tensor-source.js';
import { loadTokenizer, type Tokenizer } from './tokenizer.js';

export interface OpenedModel {
  readonly format: 'safetensors' | 'gguf';
  readonly path: string;
  readonly config: LlamaConfig;
  /** HF-named weights (GGUF names mapped, Q/K rows in HF order). */
  readonly weights: TensorSource;
  /** Checkpoint tensors the config does not use (informational). */
  readonly unusedTensors: readonly string[];
  /** From tokenizer.json beside the weights, else (GGUF) rebuilt from byte-level BPE metadata; null when neither exists. */
  readonly tokenizer: Tokenizer | null;
}

/**
 * @example
 * const m = await openModel('models/llama-3.2-1b');   // or 'model.Q4_K_M.gguf'
 * for (const [name] of m.weights.tensors) upload(name, await m.weights.read(name));
 * await m.weights.close();
 */
export async function openModel(path: string, options: GgufOpenOptions = {}): Promise<OpenedModel> {
  const st = await stat(path).catch((e: unknown) => {
    throw new CheckpointError(path, `cannot open (${describeError(e)})`, {
      hint: 'pass a HF model folder or a .gguf file',
    });
  });
  if (!st.isDirectory() && path.endsWith('.gguf')) return openGgufModel(path, options);
  if (!st.isDirectory()) {
    throw new CheckpointError(path, 'is neither a model folder nor a .gguf file', {
      hint: 'pass the folder holding config.json and the .safetensors files',
    });
  }
  const names = await readdir(path);
  const ggufs = names.filter((n) => n.endsWith('.gguf'));
  if (!names.includes('config.json') && ggufs.length === 1) return openGgufModel(join(path, ggufs[0]!), options);
  const config = await readLlamaConfig(path);
  const weights = await openSafetensors(path);
  try {
    const unusedTensors = checkLlamaTensors(config, weights.tensors, weights.path);
    const tokenizer = names.includes('tokenizer.json') ? await loadTokenizer(path) : null;
    return { format: 'safetensors', path, config, weights, unusedTensors, tokenizer };
  } catch (e) {
    await weights.close();
    throw e;
  }
}

async function openGgufModel(file: string, options: GgufOpenOptions): Promise<OpenedModel> {
  const gguf = await GgufFile.open(file, options);
  try {
    const config = ggufToLlamaConfig(gguf);
    const weights = new GgufAsHf(gguf, config);
    const [unreadable] = gguf.unsupported;
    if (unreadable !== undefined) {
      // A tensor in a type we cannot dequantize: fail now, not halfway through a load.
      throw new CheckpointError(file, `quantization type ${unreadable[1].ggmlType} is not supported`, {
        tensor: unreadable[0],
        hint: 'use a GGUF quantized to F16, BF16, Q8_0, Q4_0, Q4_K or Q6_K (e.g. Q4_K_M, Q8_0)',
      });
    }
    const unusedTensors = checkLlamaTensors(config, weights.tensors, file);
    const dir = dirname(file);
    const tokenizer = (await readdir(dir)).includes('tokenizer.json')
      ? await loadTokenizer(dir)
      : gguf.metadata.get('tokenizer.ggml.model') === 'gpt2'
        ? ggufTokenizer(file, gguf.metadata)
        : null;
    return { format: 'gguf', path: file, config, weights, unusedTensors, tokenizer };
  } catch (e) {
    await gguf.close();
    throw e;
  }
}
