/**
 * What a model family gives the registry: which checkpoints are its own, how to read one into its
 * config and weights, and how to build its `ModelRunner`. Everything family-specific (config
 * schema, tensor names, the graph) stays inside the family's folder; `openModel` and `loadRunner`
 * see only this contract.
 */
import type { KvCacheDtype } from '../attention/kv-quant.js';
import type { Backend } from '../backends/backend.js';
import type { ModelRunner } from '../engine/model-runner.js';
import type { Checkpoint } from '../io/open-checkpoint.js';
import type { TensorSource } from '../io/tensor-source.js';
import type { Tokenizer } from '../io/tokenizer.js';
import type { DType } from '../tensor/dtype.js';
import type { ProgressCallback } from '../io/tensor-source.js';

/** The keys a checkpoint is matched on. */
export interface CheckpointIdentity {
  readonly format: Checkpoint['format'];
  /** config.json `model_type`. */
  readonly modelType?: string;
  /** config.json `architectures` (class names such as `LlamaForCausalLM`). */
  readonly architectures: readonly string[];
  /** GGUF `general.architecture`. */
  readonly ggufArchitecture?: string;
}

/** A checkpoint read by its family: a validated config and weights under the family's tensor names. */
export interface OpenedModel<Config = unknown> {
  readonly family: string;
  readonly format: Checkpoint['format'];
  readonly path: string;
  readonly config: Config;
  readonly weights: TensorSource;
  /** Checkpoint tensors the config does not use (informational). */
  readonly unusedTensors: readonly string[];
  readonly tokenizer: Tokenizer | null;
}

/** Options every family's runner understands; a family may read more. */
export interface RunnerOptions {
  readonly backend: Backend;
  readonly pageSize?: number;
  /** KV pages per layer. */
  readonly numPages?: number;
  /** Most tokens one step feeds (prefill chunk + decode tokens). */
  readonly maxTokens?: number;
  readonly maxSeqs?: number;
  /** Activation and KV dtype. */
  readonly actDtype?: DType;
  /**
   * KV cache storage: f16 (default: the activation dtype) or int8/int4 pages quantized per
   * (token, head) (attention/kv-quant.ts), which fit ~1.9×/~3.8× the tokens in the same bytes at head dim 128.
   */
  readonly kvCache?: KvCacheDtype;
  /** Weight dtype on the backend. */
  readonly weightDtype?: DType;
  readonly onProgress?: ProgressCallback;
  /**
   * Serve LoRA adapters: device slots for `slots` adapters of rank up to `rmax`. A family that
   * serves none leaves its runner's `adapters` absent, which callers check.
   */
  readonly lora?: { readonly slots: number; readonly rmax: number };
}

/** A runner the engine can drive and `TesseraModel` can size and free. */
export interface FamilyRunner extends ModelRunner {
  readonly maxTokens: number;
  readonly maxSeqs: number;
  destroy(): void;
}

export interface ModelFamily<Config = unknown, Options extends RunnerOptions = RunnerOptions> {
  /** The folder under src/models/ and the name in errors. */
  readonly name: string;
  /** The keys it accepts, for the error naming supported families. */
  readonly accepts: string;
  matches(id: CheckpointIdentity): boolean;
  /** Validates the config and checks the weights against it; throws on anything the family cannot run. */
  open(checkpoint: Checkpoint): OpenedModel<Config>;
  loadRunner(model: OpenedModel<Config>, options: Options): Promise<FamilyRunner>;
}
