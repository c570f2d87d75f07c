/**
 * The tensors a Llama-family checkpoint must hold, by HF name and shape, derived from its config;
 * and the check that a checkpoint matches, so a mismatched config and weights fail at load with
 * the file and tensor named — not as a shape error deep inside a matmul.
 */
import { isFloat } from '../../tensor/dtype.js';
import { CheckpointError } from '../../io/errors.js';
import type { LlamaConfig } from './llama-config.js';
import type { TensorInfo } from '../../io/tensor-source.js';

/** HF tensor names → shapes for `config`, in the order a loader naturally visits them. */
export function llamaTensorShapes(config: LlamaConfig): Map<string, readonly number[]> {
  const { hiddenSize: h, intermediateSize: f, numHeads, numKvHeads, headDim: d, vocabSize: v } = config;
  const out = new Map<string, readonly number[]>();
  out.set('model.embed_tokens.weight', [v, h]);
  for (let i = 0; i < config.numLayers; i++) {
    const p = `model.layers.${i}`;
    out.set(`${p}.input_layernorm.weight`, [h]);
    const proj = (name: string, rows: number, cols: number, bias: boolean) => {
      out.set(`${p}.${name}.weight`, [rows, cols]);
      if (bias) out.set(`${p}.${name}.bias`, [rows]);
    };
    proj('self_attn.q_proj', numHeads * d, h, config.qkvBias);
    proj('self_attn.k_proj', numKvHeads * d, h, config.qkvBias);
    proj('self_attn.v_proj', numKvHeads * d, h, config.qkvBias);
    proj('self_attn.o_proj', h, numHeads * d, config.oBias);
    out.set(`${p}.post_attention_layernorm.weight`, [h]);
    proj('mlp.gate_proj', f, h, config.mlpBias);
    proj('mlp.up_proj', f, h, config.mlpBias);
    proj('mlp.down_proj', h, f, config.mlpBias);
  }
  out.set('model.norm.weight', [h]);
  if (!config.tieWordEmbeddings) out.set('lm_head.weight', [v, h]);
  return out;
}

/**
 * Throws a CheckpointError for the first tensor that is missing, of the wrong shape or not a
 * float type; returns the names the config does not use (e.g. old `rotary_emb.inv_freq` buffers).
 *
 * @example
 * const extra = checkLlamaTensors(cfg, ckpt.tensors, ckpt.path);
 */
export function checkLlamaTensors(
  config: LlamaConfig,
  tensors: ReadonlyMap<string, TensorInfo>,
  source: string,
): string[] {
  const expected = llamaTensorShapes(config);
  for (const [name, shape] of expected) {
    const info = tensors.get(name);
    if (info === undefined) {
      throw new CheckpointError(
        source,
        `missing: config.json (${config.modelType}, ${config.numLayers} layers) needs it with shape [${shape.join(', ')}]`,
        {
          tensor: name,
          hint: 'the weights and config.json are from different models, or the checkpoint is incomplete',
        },
      );
    }
    if (info.shape.length !== shape.length || info.shape.some((d, k) => d !== shape[k])) {
      throw new CheckpointError(
        info.file,
        `has shape [${info.shape.join(', ')}] but config.json implies [${shape.join(', ')}]`,
        {
          tensor: name,
          hint: 'the weights and config.json are from different models',
        },
      );
    }
    if (!isFloat(info.dtype)) {
      throw new CheckpointError(info.file, `has dtype ${info.dtype}; Llama weights must be f32, f16 or bf16`, {
        tensor: name,
      });
    }
  }
  const allowedExtra = config.tieWordEmbeddings ? new Set(['lm_head.weight']) : new Set<string>();
  return [...tensors.keys()].filter((n) => !expected.has(n) && !allowedExtra.has(n));
}
