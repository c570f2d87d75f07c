/**
 * The Llama family: decoder-only transformers with RMSNorm, SwiGLU and RoPE — Llama 2/3/3.1/3.2,
 * Mistral, Qwen2/2.5 — from HF folders or GGUF files.
 */
import type { GgufOpenOptions } from '../../io/gguf-file.js';
import { GgufAsHf, ggufToLlamaConfig, SUPPORTED_GGUF_ARCHS } from './gguf-llama.js';
import { type LlamaConfig, parseLlamaConfig, SUPPORTED_MODEL_TYPES } from './llama-config.js';
import { checkLlamaTensors } from './llama-tensors.js';
import type { Checkpoint } from '../../io/open-checkpoint.js';
import type { ModelFamily, OpenedModel } from '../family.js';
import { openCheckpoint } from '../../io/open-checkpoint.js';
import { checkpointIdentity } from '../registry.js';
import { LlamaRunner, type LlamaRunnerOptions } from './llama-runner.js';
import { W4a4AsHf, isW4a4Checkpoint } from './w4a4-source.js';

/** transformers class names → model_type, for configs that name only their architecture. */
const ARCHITECTURES: Readonly<Record<string, string>> = {
  LlamaForCausalLM: 'llama',
  MistralForCausalLM: 'mistral',
  Qwen2ForCausalLM: 'qwen2',
};

const quoted = (xs: readonly string[]) => xs.map((x) => `'${x}'`).join(', ');

export const llamaFamily: ModelFamily<LlamaConfig, LlamaRunnerOptions> = {
  name: 'llama',
  accepts:
    `config.json model_type ${quoted(SUPPORTED_MODEL_TYPES)} (Llama 2/3/3.1/3.2, Mistral, Qwen2/2.5); ` +
    `GGUF general.architecture ${quoted(SUPPORTED_GGUF_ARCHS)}`,

  matches(id) {
    if (id.format === 'gguf') return (SUPPORTED_GGUF_ARCHS as readonly string[]).includes(id.ggufArchitecture ?? '');
    if (id.modelType !== undefined) return (SUPPORTED_MODEL_TYPES as readonly string[]).includes(id.modelType);
    return id.architectures.some((a) => a in ARCHITECTURES);
  },

  open(c: Checkpoint): OpenedModel<LlamaConfig> {
    const base = { family: 'llama', format: c.format, path: c.path, tokenizer: c.tokenizer };
    if (c.format === 'gguf') {
      const config = ggufToLlamaConfig(c.gguf);
      const weights = new GgufAsHf(c.gguf, config);
      return { ...base, config, weights, unusedTensors: checkLlamaTensors(config, weights.tensors, c.path) };
    }
    const config = parseLlamaConfig(withModelType(c.config), c.configFile);
    // a W4A4 checkpoint shows its projections under their own names (w4a4-source.ts)
    const weights = isW4a4Checkpoint(c.weights.tensors) ? new W4a4AsHf(c.weights, config) : c.weights;
    const unusedTensors = checkLlamaTensors(config, weights.tensors, c.weights.path);
    return { ...base, config, weights, unusedTensors };
  },

  loadRunner: (model, options) => LlamaRunner.load(model, options),
};

/** A config naming only `architectures` gets the model_type they imply. */
function withModelType(json: unknown): unknown {
  const c = json as { model_type?: unknown; architectures?: unknown };
  if (c?.model_type !== undefined || !Array.isArray(c?.architectures)) return json;
  const type = c.architectures.map((a) => ARCHITECTURES[a as string]).find((t) => t !== undefined);
  return type === undefined ? json : { ...c, model_type: type };
}

/**
 * Opens a checkpoint as a Llama-family model for code that runs the Llama decoder itself (tests,
 * benchmarks, the GGUF writer). It asks this family directly, not the registry, so a script works
 * without importing the composition root; other families' checkpoints are refused by name.
 */
export async function openLlamaModel(path: string, options: GgufOpenOptions = {}): Promise<OpenedModel<LlamaConfig>> {
  const checkpoint = await openCheckpoint(path, options);
  try {
    const id = checkpointIdentity(checkpoint);
    if (!llamaFamily.matches(id)) {
      const what =
        id.format === 'gguf'
          ? `GGUF architecture '${id.ggufArchitecture}'`
          : `model_type '${id.modelType ?? id.architectures.join(', ')}'`;
      throw new Error(`${path}: ${what} is not a Llama-family model (this family accepts ${llamaFamily.accepts})`);
    }
    return llamaFamily.open(checkpoint);
  } catch (e) {
    await checkpoint.weights.close();
    throw e;
  }
}
