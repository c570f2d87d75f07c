/**
 * One entry point for "a checkpoint the user pointed at": an HF folder (config.json + safetensors +
 * tokenizer files) or a GGUF file. Returns what the files hold, format by format: the raw config
 * JSON or GGUF metadata, the tensors as stored, and the tokenizer when one is there. Which model
 * family that is, and what the tensors mean, is decided in `src/models` (`openModel`).
 */
import type { Folder } from '../platform/byte-source.js';
import { platform } from '../platform/current.js';
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
 * `location` is a path (or a URL where the platform reads URLs: always in a browser, http(s) in
 * Node) of a model folder or a .gguf file, or a `Folder` (`urlFolder`, `blobFolder`).
 *
 * @example
 * const c = await openCheckpoint('models/llama-3.2-1b');   // or 'model.Q4_K_M.gguf'
 * if (c.format === 'safetensors') console.log((c.config as { model_type: string }).model_type);
 * await c.weights.close();
 */
export async function openCheckpoint(location: string | Folder, options: GgufOpenOptions = {}): Promise<Checkpoint> {
  let folder: Folder;
  if (typeof location === 'string') {
    const located = await platform.locate(location).catch((e: unknown) => {
      throw new CheckpointError(location, `cannot open (${describeError(e)})`, {
        hint: 'pass a HF model folder or a .gguf file',
      });
    });
    folder = located.folder;
    if (located.file?.endsWith('.gguf')) return openGgufCheckpoint(folder, located.file, options);
    if (located.file !== null) {
      throw new CheckpointError(location, 'is neither a model folder nor a .gguf file', {
        hint: 'pass the folder holding config.json and the .safetensors files',
      });
    }
  } else folder = location;
  // A folder that cannot be listed (a URL) is an HF folder: one GGUF at a URL is passed as its own URL.
  const names = await folder.list();
  const ggufs = names?.filter((n) => n.endsWith('.gguf')) ?? [];
  if (names !== null && !names.includes('config.json') && ggufs.length === 1)
    return openGgufCheckpoint(folder, ggufs[0]!, options);
  const { file, json } = await readHfConfig(folder);
  const weights = await openSafetensors(folder);
  try {
    const hasTokenizer =
      names === null ? (await folder.readText('tokenizer.json')) !== null : names.includes('tokenizer.json');
    const tokenizer = hasTokenizer ? await loadTokenizer(folder) : null;
    return { format: 'safetensors', path: folder.location, configFile: file, config: json, weights, tokenizer };
  } catch (e) {
    await weights.close();
    throw e;
  }
}

async function openGgufCheckpoint(folder: Folder, name: string, options: GgufOpenOptions): Promise<GgufCheckpoint> {
  const file = folder.locate(name);
  const source = await folder.open(name).catch((e: unknown) => {
    throw new CheckpointError(file, `cannot open (${describeError(e)})`, {
      hint: 'check the path and its permissions',
    });
  });
  if (source === null) throw new CheckpointError(file, 'cannot open (no such file)', { hint: 'check the path' });
  const gguf = await GgufFile.open(source, options);
  try {
    const [unreadable] = gguf.unsupported;
    if (unreadable !== undefined) {
      // A tensor in a type we cannot dequantize: fail now, not halfway through a load.
      throw new CheckpointError(file, `quantization type ${unreadable[1].ggmlType} is not supported`, {
        tensor: unreadable[0],
        hint: 'use a GGUF quantized to F16, BF16, Q8_0, Q4_0, Q4_K or Q6_K (e.g. Q4_K_M, Q8_0)',
      });
    }
    const names = await folder.list();
    const hasTokenizer =
      names === null ? (await folder.readText('tokenizer.json')) !== null : names.includes('tokenizer.json');
    const tokenizer = hasTokenizer
      ? await loadTokenizer(folder)
      : gguf.metadata.get('tokenizer.ggml.model') === 'gpt2'
        ? ggufTokenizer(file, gguf.metadata)
        : null;
    return { format: 'gguf', path: file, gguf, weights: gguf, tokenizer };
  } catch (e) {
    await gguf.close();
    throw e;
  }
}
