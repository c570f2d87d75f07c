/**
 * The BERT encoder's config (HF config.json of `BertModel`, e.g. all-MiniLM-L6-v2) and the
 * sentence-transformers head around it: the pooling mode (`1_Pooling/config.json`) and whether a
 * `Normalize` module follows (`modules.json`). Only what the encoder computes is accepted; anything
 * else fails on load with the file and the field, never as wrong numbers later.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CheckpointError } from '../../io/errors.js';

export const SUPPORTED_BERT_MODEL_TYPES = ['bert'] as const;

export interface BertConfig {
  readonly vocabSize: number;
  readonly hiddenSize: number;
  readonly numLayers: number;
  readonly numHeads: number;
  readonly headDim: number;
  readonly intermediateSize: number;
  readonly maxPositionEmbeddings: number;
  readonly typeVocabSize: number;
  readonly layerNormEps: number;
}

/** How token states become one vector per text (sentence-transformers' `Pooling` module). */
export type PoolingMode = 'mean' | 'cls';

export interface SentenceHead {
  readonly pooling: PoolingMode;
  /** A `Normalize` module follows pooling: embeddings are L2-normalised. */
  readonly normalize: boolean;
}

export interface BertModelConfig {
  readonly encoder: BertConfig;
  readonly head: SentenceHead;
}

function field(json: Record<string, unknown>, key: string, file: string, fallback?: number): number {
  const v = json[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0)
    throw new CheckpointError(file, `config field '${key}' must be a positive number (got ${JSON.stringify(v)})`);
  return v;
}

/** Parses config.json of a BERT encoder; throws on activations or position schemes it does not compute. */
export function parseBertConfig(raw: unknown, file: string): BertConfig {
  if (typeof raw !== 'object' || raw === null) throw new CheckpointError(file, 'is not a JSON object');
  const json = raw as Record<string, unknown>;
  const act = json.hidden_act ?? 'gelu';
  if (act !== 'gelu')
    throw new CheckpointError(file, `hidden_act '${String(act)}' is not supported`, {
      hint: "the BERT encoder computes the exact (erf) GELU of hidden_act 'gelu'",
    });
  const posType = json.position_embedding_type ?? 'absolute';
  if (posType !== 'absolute')
    throw new CheckpointError(file, `position_embedding_type '${String(posType)}' is not supported (only 'absolute')`);
  const hiddenSize = field(json, 'hidden_size', file);
  const numHeads = field(json, 'num_attention_heads', file);
  if (hiddenSize % numHeads !== 0)
    throw new CheckpointError(file, `hidden_size ${hiddenSize} is not a multiple of num_attention_heads ${numHeads}`);
  return {
    vocabSize: field(json, 'vocab_size', file),
    hiddenSize,
    numLayers: field(json, 'num_hidden_layers', file),
    numHeads,
    headDim: hiddenSize / numHeads,
    intermediateSize: field(json, 'intermediate_size', file),
    maxPositionEmbeddings: field(json, 'max_position_embeddings', file, 512),
    typeVocabSize: field(json, 'type_vocab_size', file, 2),
    layerNormEps: field(json, 'layer_norm_eps', file, 1e-12),
  };
}

const readJson = (file: string): unknown => {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new CheckpointError(file, `is not readable JSON (${(e as Error).message})`);
  }
};

/**
 * The sentence-transformers head of a model folder. Without modules.json (a bare `BertModel`) the
 * default is mean pooling without normalisation, as sentence-transformers builds for such a folder.
 */
export function readSentenceHead(folder: string): SentenceHead {
  const modulesFile = join(folder, 'modules.json');
  if (!existsSync(modulesFile)) return { pooling: 'mean', normalize: false };
  const modules = readJson(modulesFile);
  if (!Array.isArray(modules)) throw new CheckpointError(modulesFile, 'is not a JSON array of modules');
  let pooling: PoolingMode = 'mean';
  let normalize = false;
  for (const m of modules as { type?: unknown; path?: unknown }[]) {
    const type = String(m.type ?? '');
    if (type.endsWith('.Transformer')) continue;
    if (type.endsWith('.Normalize')) normalize = true;
    else if (type.endsWith('.Pooling')) pooling = readPooling(join(folder, String(m.path ?? ''), 'config.json'));
    else throw new CheckpointError(modulesFile, `module '${type}' is not supported (Transformer, Pooling, Normalize)`);
  }
  return { pooling, normalize };
}

function readPooling(file: string): PoolingMode {
  const json = readJson(file) as Record<string, unknown>;
  const on = Object.entries(json)
    .filter(([k, v]) => k.startsWith('pooling_mode_') && v === true)
    .map(([k]) => k.slice('pooling_mode_'.length));
  const modes: Record<string, PoolingMode> = { mean_tokens: 'mean', cls_token: 'cls' };
  if (on.length !== 1 || modes[on[0]!] === undefined)
    throw new CheckpointError(file, `pooling modes [${on.join(', ')}] are not supported`, {
      hint: 'exactly one of pooling_mode_mean_tokens, pooling_mode_cls_token',
    });
  return modes[on[0]!]!;
}
