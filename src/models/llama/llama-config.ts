/**
 * HF `config.json` for the Llama family — Llama 2, Llama 3/3.1/3.2 (llama3 RoPE scaling),
 * Mistral, Qwen2/2.5 — validated with zod into one typed, camelCase `LlamaConfig` that model code
 * can trust. Anything Tessera's Llama decoder cannot run (another model_type, another activation,
 * YaRN or dynamic RoPE, Qwen2's sliding-window layers) is refused here, listing what is supported,
 * rather than producing wrong logits later.
 */
import { z } from 'zod';
import { CheckpointError, UnsupportedModelError } from '../../io/errors.js';
import { readHfConfig } from '../../io/hf-config.js';

export const SUPPORTED_MODEL_TYPES = ['llama', 'mistral', 'qwen2'] as const;
export type LlamaModelType = (typeof SUPPORTED_MODEL_TYPES)[number];
const SUPPORTED_ROPE = "none/'default', 'linear', 'llama3'";

export type RopeScaling =
  | { readonly type: 'linear'; readonly factor: number }
  | {
      readonly type: 'llama3';
      readonly factor: number;
      readonly lowFreqFactor: number;
      readonly highFreqFactor: number;
      readonly originalMaxPositionEmbeddings: number;
    }
  /** GGUF files of Llama 3.1+ carry the llama3 scaling precomputed: divide frequency i by tensor[i]. */
  | { readonly type: 'freq-factors'; readonly tensor: string };

export interface LlamaConfig {
  readonly modelType: LlamaModelType;
  readonly hiddenSize: number;
  readonly intermediateSize: number;
  readonly numLayers: number;
  readonly numHeads: number;
  readonly numKvHeads: number;
  readonly headDim: number;
  readonly vocabSize: number;
  readonly maxPositionEmbeddings: number;
  readonly rmsNormEps: number;
  readonly ropeTheta: number;
  readonly ropeScaling: RopeScaling | null;
  readonly tieWordEmbeddings: boolean;
  /** Biases on the q, k, v projections (Qwen2 always; Llama with attention_bias). */
  readonly qkvBias: boolean;
  /** Bias on the output projection (Llama with attention_bias; never Qwen2). */
  readonly oBias: boolean;
  readonly mlpBias: boolean;
  /** Mistral v0.1's sliding attention window in tokens; null for full attention. */
  readonly slidingWindow: number | null;
  readonly bosTokenId: number | null;
  readonly eosTokenIds: readonly number[];
  /** The dtype the checkpoint was saved in, if the config says. */
  readonly torchDtype: string | null;
}

const positiveInt = z.number().int().positive();
const tokenIds = z
  .union([z.number().int().nonnegative(), z.array(z.number().int().nonnegative()), z.null()])
  .optional();

/** The fields we read; the rest of config.json (e.g. transformers_version) is allowed and ignored. */
const hfLlamaSchema = z.looseObject({
  model_type: z.string(),
  hidden_size: positiveInt,
  intermediate_size: positiveInt,
  num_hidden_layers: positiveInt,
  num_attention_heads: positiveInt,
  num_key_value_heads: positiveInt.nullish(),
  head_dim: positiveInt.nullish(),
  vocab_size: positiveInt,
  max_position_embeddings: positiveInt.optional(),
  rms_norm_eps: z.number().positive().max(1).optional(),
  rope_theta: z.number().positive().optional(),
  rope_scaling: z.looseObject({ rope_type: z.string().optional(), type: z.string().optional() }).nullish(),
  // transformers ≥ 5 writes theta and scaling together here instead of rope_theta / rope_scaling
  rope_parameters: z
    .looseObject({ rope_theta: z.number().positive().optional(), rope_type: z.string().optional() })
    .nullish(),
  tie_word_embeddings: z.boolean().optional(),
  attention_bias: z.boolean().optional(),
  mlp_bias: z.boolean().optional(),
  hidden_act: z.string().optional(),
  sliding_window: positiveInt.nullish(),
  use_sliding_window: z.boolean().optional(),
  bos_token_id: tokenIds,
  eos_token_id: tokenIds,
  torch_dtype: z.string().nullish(),
  dtype: z.string().nullish(),
});

const llama3RopeSchema = z.looseObject({
  factor: z.number().positive(),
  low_freq_factor: z.number().positive(),
  high_freq_factor: z.number().positive(),
  original_max_position_embeddings: positiveInt,
});

/**
 * Validates a parsed `config.json` (`source` names it in errors).
 *
 * @example
 * const cfg = parseLlamaConfig(JSON.parse(text), 'models/llama/config.json');
 * cfg.numKvHeads; // 8
 */
export function parseLlamaConfig(json: unknown, source: string): LlamaConfig {
  const modelType = (json as { model_type?: unknown } | null)?.model_type;
  if (typeof modelType === 'string' && !(SUPPORTED_MODEL_TYPES as readonly string[]).includes(modelType)) {
    throw new UnsupportedModelError(
      source,
      `model_type '${modelType}' is not supported`,
      `model_type ${SUPPORTED_MODEL_TYPES.map((t) => `'${t}'`).join(', ')} (Llama 2/3/3.1/3.2, Mistral, Qwen2/2.5)`,
    );
  }
  const parsed = hfLlamaSchema.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new CheckpointError(source, `is not a valid Llama-family config (${issues})`, {
      hint: 'fix or re-download config.json',
    });
  }
  const c = parsed.data;
  const type = c.model_type as LlamaModelType;
  const unsupported = (what: string, supported: string): never => {
    throw new UnsupportedModelError(source, what, supported);
  };

  if (c.hidden_act !== undefined && c.hidden_act !== 'silu')
    unsupported(`hidden_act '${c.hidden_act}' is not supported`, "hidden_act 'silu'");
  if (type === 'qwen2' && c.use_sliding_window === true)
    unsupported('use_sliding_window: true (Qwen2 sliding-window layers) is not supported', 'use_sliding_window: false');

  const numHeads = c.num_attention_heads;
  const numKvHeads = c.num_key_value_heads ?? numHeads;
  if (numHeads % numKvHeads !== 0) {
    throw new CheckpointError(
      source,
      `num_attention_heads ${numHeads} is not a multiple of num_key_value_heads ${numKvHeads}`,
    );
  }
  const headDim = c.head_dim ?? c.hidden_size / numHeads;
  if (!Number.isInteger(headDim) || headDim % 2 !== 0) {
    throw new CheckpointError(
      source,
      `head dimension ${headDim} (hidden_size ${c.hidden_size} / num_attention_heads ${numHeads}) is not an even integer`,
    );
  }

  const eos = c.eos_token_id;
  return {
    modelType: type,
    hiddenSize: c.hidden_size,
    intermediateSize: c.intermediate_size,
    numLayers: c.num_hidden_layers,
    numHeads,
    numKvHeads,
    headDim,
    vocabSize: c.vocab_size,
    maxPositionEmbeddings: c.max_position_embeddings ?? 2048,
    rmsNormEps: c.rms_norm_eps ?? 1e-6,
    ropeTheta: c.rope_parameters?.rope_theta ?? c.rope_theta ?? 10000,
    ropeScaling: parseRopeScaling(c.rope_scaling ?? c.rope_parameters ?? null, source),
    tieWordEmbeddings: c.tie_word_embeddings ?? false,
    qkvBias: type === 'qwen2' ? true : (c.attention_bias ?? false),
    oBias: type === 'qwen2' ? false : (c.attention_bias ?? false),
    mlpBias: c.mlp_bias ?? false,
    // Qwen2 configs carry a sliding_window value even when use_sliding_window is false: it is unused then.
    slidingWindow: type === 'mistral' ? (c.sliding_window ?? null) : null,
    bosTokenId:
      typeof c.bos_token_id === 'number'
        ? c.bos_token_id
        : Array.isArray(c.bos_token_id)
          ? (c.bos_token_id[0] ?? null)
          : null,
    eosTokenIds: eos === undefined || eos === null ? [] : Array.isArray(eos) ? eos : [eos],
    torchDtype: c.torch_dtype ?? c.dtype ?? null,
  };
}

function parseRopeScaling(raw: Record<string, unknown> | null, source: string): RopeScaling | null {
  if (raw === null) return null;
  const kind = (raw.rope_type ?? raw.type) as string | undefined;
  if (kind === undefined || kind === 'default') return null;
  if (kind === 'linear') {
    const factor = z.number().positive().safeParse(raw.factor);
    if (!factor.success)
      throw new CheckpointError(
        source,
        `rope_scaling 'linear' needs a positive factor, got ${JSON.stringify(raw.factor)}`,
      );
    return { type: 'linear', factor: factor.data };
  }
  if (kind === 'llama3') {
    const p = llama3RopeSchema.safeParse(raw);
    if (!p.success) {
      throw new CheckpointError(
        source,
        `rope_scaling 'llama3' is incomplete (${p.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')})`,
      );
    }
    return {
      type: 'llama3',
      factor: p.data.factor,
      lowFreqFactor: p.data.low_freq_factor,
      highFreqFactor: p.data.high_freq_factor,
      originalMaxPositionEmbeddings: p.data.original_max_position_embeddings,
    };
  }
  throw new UnsupportedModelError(
    source,
    `rope_scaling type '${kind}' is not supported`,
    `rope_scaling ${SUPPORTED_ROPE}`,
  );
}

/** Reads `config.json` from a model folder (or the file itself) and validates it. */
export async function readLlamaConfig(path: string): Promise<LlamaConfig> {
  const { file, json } = await readHfConfig(path);
  return parseLlamaConfig(json, file);
}
