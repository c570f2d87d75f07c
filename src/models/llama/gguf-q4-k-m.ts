/**
 * llama.cpp's Q4_K_M mix for a Llama checkpoint: which matrices `llama-quantize … Q4_K_M` stores
 * as Q6_K and which as Q4_K, so our GGUF writer lays the file out as llama.cpp's quantizer does.
 *
 * The rule is `llama_tensor_get_type` (src/llama-quant.cpp) for LLAMA_FTYPE_MOSTLY_Q4_K_M on the
 * `llama` architecture without experts and not the 70B shape:
 * - default Q4_K for every 2-D tensor;
 * - the output matrix (`output.weight`, HF `lm_head`) Q6_K; where the embedding is tied (no output
 *   matrix) the token embedding is that matrix and gets Q6_K; an untied `token_embd` stays Q4_K;
 * - `attn_v` and `ffn_down` of layer i Q6_K when use_more_bits(i, n_layers): the first and last
 *   eighth of the layers and every third layer between them.
 * Not followed: llama.cpp's fallback for rows that are not whole 256-element blocks (Q5_0 etc.);
 * our writer stores such a matrix F16. The 70B (attn_v → Q5_K) and 8-expert (attn_v → Q8_0)
 * exceptions do not apply to the shapes written here.
 *
 * The blocks themselves come from our quantizers (src/io/gguf-quantize.ts), which are valid ggml
 * blocks but simpler than ggml's error-minimising search: not bit-identical to llama-quantize, with
 * 4–10 % more RMS error than ggml's reference quantizers (scripts/quant/compare_ggml_kquants.py).
 */
import type { LlamaConfig } from './llama-config.js';

/** llama.cpp's `general.file_type` value LLAMA_FTYPE_MOSTLY_Q4_K_M. */
export const Q4_K_M_FILE_TYPE = 15;

/** llama.cpp's use_more_bits: layers whose V and down projections Q4_K_M keeps at 6 bits. */
export function useMoreBits(layer: number, layers: number): boolean {
  const eighth = Math.trunc(layers / 8);
  return layer < eighth || layer >= Math.trunc((7 * layers) / 8) || (layer - eighth) % 3 === 2;
}

/** The Q4_K_M storage type of an HF-named Llama matrix. */
export function q4KMTypeOf(config: LlamaConfig): (hfName: string) => 'Q4_K' | 'Q6_K' {
  return (hf) => {
    if (hf === 'lm_head.weight') return 'Q6_K';
    if (hf === 'model.embed_tokens.weight') return config.tieWordEmbeddings ? 'Q6_K' : 'Q4_K';
    const m = /^model\.layers\.(\d+)\.(self_attn\.v_proj|mlp\.down_proj)\.weight$/.exec(hf);
    if (m && useMoreBits(Number(m[1]), config.numLayers)) return 'Q6_K';
    return 'Q4_K';
  };
}
