/**
 * One entry point for "a checkpoint the user pointed at": an HF folder (config.json + safetensors +
 * tokenizer files) or a GGUF file. Returns what the files hold, format by format: the raw config
 * JSON or GGUF metadata, the tensors as stored, and the tokenizer when one is there. Which model
 * family that is, and what the tensors mean, is decided in `src/models` (`openModel`).
 */
import { readdir, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { CheckpointError, describeError } from './errors.js';
import { GgufFile, type GgufOpenOptions } from './gguf-file.js';
import { ggufTokenizer } from './gguf-tokenizer.js';
import { readHfConfig } from './hf-config.js';
import { openSafetensors, type SafetensorsCheckpoint } from './safetensors-checkpoint.js';
import type { TensorSource } from './tensor-source.js';
import { loadTokenizer, type Tokenizer } from './tokenizer.js';

/** An HF folder: config.json as parsed JSON, the safetensors under their HF names. */
export interface HfCheckpoint {
  readonly format: 'safetensors';
  readonly path: string;
  /** The config.json that was read (errors about it name this file). */
  readonly configFile: string;
  readonly config: unknown;
  readonly weights: SafetensorsCheckpoint;
  /** From tokenizer.json in the folder; null when there is none. */
  readonly tokenizer: Tokenizer | null;
}

/** A GGUF file: its metadata (`gguf.metadata`) and its tensors under their GGUF names, dequantized on read. */
export interface GgufCheckpoint {
  readonly format: 'gguf';
  readonly path: string;
  readonly gguf: GgufFile;
  /** The same file as a tensor source (GGUF names). */
  readonly weights: TensorSource;
  /** From tokenizer.json beside the file, else rebuilt from byte-level BPE metadata; null when neither exists. */
  readonly tokenizer: Tokenizer | null;
}

export type Checkpoint = HfCheckpoint | GgufCheckpoint;

/**
 * @example
 * const c = await openCheckpoint('models/llama-3.2-1b');   // or 'model.Q4_K_M.gguf'
 * if (c.format === 'safetensors') console.log((c.config as { model_type: string }).model_type);
 * await c.weights.close();
 */
export async function openCheckpoint(path: string, options: GgufOpenOptions = {}): Promise<Checkpoint> {
  const st = await stat(path).catch((e: unknown) => {
    throw new CheckpointError(path, `cannot open (${describeError(e)})`, {
      hint: 'pass a HF model folder or a .gguf file',
    });
  });
  if (!st.isDirectory() && path.endsWith('.gguf')) return openGgufCheckpoint(path, options);
  if (!st.isDirectory()) {
    throw new CheckpointError(path, 'is neither a model folder nor a .gguf file', {
      hint: 'pass the folder holding config.json and the .safetensors files',
    });
  }
  const names = await readdir(path);
  const ggufs = names.filter((n) => n.endsWith('.gguf'));
  if (!names.includes('config.json') && ggufs.length === 1) return openGgufCheckpoint(join(path, ggufs[0]!), options);
  const { file, json } = await readHfConfig(path);
  const weights = await openSafetensors(path);
  try {
    const tokenizer = names.includes('tokenizer.json') ? await loadTokenizer(path) : null;
    return { format: 'safetensors', path, configFile: file, config: json, weights, tokenizer };
  } catch (e) {
    await weights.close();
    throw e;
  }
}

async function openGgufCheckpoint(file: string, options: GgufOpenOptions): Promise<GgufCheckpoint> {
  const gguf = await GgufFile.open(file, options);
  try {
    const [unreadable] = gguf.unsupported;
    if (unreadable !== undefined) {
      // A tensor in a type we cannot dequantize: fail now, not halfway through a load.
      throw new CheckpointError(file, `quantization type ${unreadable[1].ggmlType} is not supported`, {
        tensor: unreadable[0],
        hint: 'use a GGUF quantized to F16, BF16, Q8_0, Q4_0, Q4_K or Q6_K (e.g. Q4_K_M, Q8_0)',
      });
    }
    const dir = dirname(file);
    const tokenizer = (await readdir(dir)).includes('tokenizer.json')
      ? await loadTokenizer(dir)
      : gguf.metadata.get('tokenizer.ggml.model') === 'gpt2'
        ? ggufTokenizer(file, gguf.metadata)
        : null;
    return { format: 'gguf', path: file, gguf, weights: gguf, tokenizer };
  } catch (e) {
    await gguf.close();
    throw e;
  }
}
