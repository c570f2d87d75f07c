import type { OpenedModel } from '../src/models/family.js';
import type { LlamaConfig } from '../src/models/llama/llama-config.js';
import { openLlamaModel } from '../src/models/llama/llama-family.js';

/**
 * A Llama checkpoint opened for contexts up to `positions`, past the bound its config states where
 * needed. The long-context benches run on hf_decode.py's checkpoint, Llama-3-8B's shape, whose config
 * bounds positions at 8192; Llama-3.1-8B is the same shape at 131072. With random weights the bound is
 * only a check (RoPE angles come from the position; no table grows with it), so lifting it spares a
 * second 16 GB checkpoint. `lifted` says whether the bound was raised, for the bench's log.
 */
export async function openLlamaForContext(
  dir: string,
  positions: number,
): Promise<{ model: OpenedModel<LlamaConfig>; lifted: number | null }> {
  const opened = await openLlamaModel(dir);
  const stated = opened.config.maxPositionEmbeddings;
  if (stated >= positions) return { model: opened, lifted: null };
  return { model: { ...opened, config: { ...opened.config, maxPositionEmbeddings: positions } }, lifted: stated };
}
