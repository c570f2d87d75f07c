import { registerModelFamily } from '../registry.js';
import { llamaFamily } from './llama-family.js';

/** Makes `openModel` / `loadRunner` accept Llama, Mistral and Qwen2 checkpoints. */
export function registerLlama(): void {
  registerModelFamily(llamaFamily);
}
