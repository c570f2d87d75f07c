/**
 * `openModel(path)`: a checkpoint (HF folder or GGUF file, read by `src/io`) handed to the model
 * family that claims it, which validates its config and checks its weights.
 */
import type { GgufOpenOptions } from '../io/gguf-file.js';
import { openCheckpoint } from '../io/open-checkpoint.js';
import type { Folder } from '../platform/byte-source.js';
import type { OpenedModel } from './family.js';
import { familyFor } from './registry.js';

/**
 * @example
 * const m = await openModel('models/llama-3.2-1b');   // or 'model.Q4_K_M.gguf'
 * m.family;                                            // 'llama'
 * for (const [name] of m.weights.tensors) upload(name, await m.weights.read(name));
 * await m.weights.close();
 */
export async function openModel(path: string | Folder, options: GgufOpenOptions = {}): Promise<OpenedModel> {
  const checkpoint = await openCheckpoint(path, options);
  try {
    return familyFor(checkpoint).open(checkpoint);
  } catch (e) {
    await checkpoint.weights.close();
    throw e;
  }
}
