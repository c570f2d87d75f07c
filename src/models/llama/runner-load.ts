/**
 * The load step of a Llama runner: resolves the options' defaults, compiles the decoder for every
 * step shape up to `maxTokens`/`maxSeqs`, uploads the weights (projections kept quantized where
 * stored so) and creates the paged KV cache and, where adapters are served, their device stacks.
 */
import type { Backend, Tensor } from '../../backends/backend.js';
import { compile } from '../../compiler/compile.js';
import type { Executable } from '../../compiler/executable.js';
import type { TensorSource } from '../../io/tensor-source.js';
import type { RunnerOptions } from '../family.js';
import { type LoraGraphOptions, loraShapesOf } from './adapter-graph.js';
import { DeviceAdapterStacks, loraStackDtype } from './adapter-stacks-device.js';
import { llamaModule } from './graph.js';
import { defaultDecodeBatchBuckets, normalizeRowBuckets } from './step-padding.js';
import { PagedKvCache } from './kv-cache.js';
import type { LlamaConfig } from './llama-config.js';
import { quantizedWeightPlan } from './quantized-weights.js';
import { uploadWeights } from './weights.js';
import { hasW4a4 } from './w4a4-source.js';
import { w4a4WeightBytes } from '../../quant/w4a4-format.js';
import { type KvCacheDtype, type KvDtype, kvBytesPerToken } from '../../attention/kv-quant.js';
import type { DType } from '../../tensor/dtype.js';

export interface LlamaRunnerOptions extends RunnerOptions {
  /** Replay recorded dispatch streams for decode steps (default true on WebGPU). */
  readonly recordDecode?: boolean;
  /**
   * Single-sequence prefill buckets (n rounded up to a power of two) kept recorded where decode
   * steps are (default 3; 0: prefill always runs unrecorded). Each holds a step's intermediates
   * at its row count, so this bounds their memory.
   */
  readonly prefillBuckets?: number;
  /**
   * Row buckets that unrecorded steps (mixed decode + prefill chunk, multi-sequence prefill) are
   * padded to (step-padding.ts), so a server's many token counts reuse a few shapes' pipelines and
   * encodings: 'off' runs each step in exactly its rows; absent: `defaultMixedRowBuckets(maxTokens)`.
   */
  readonly mixedRowBuckets?: readonly number[] | 'off';
  /**
   * Mixed steps (several sequences, some prefilling) kept recorded, one per row bucket, least
   * recently used evicted; 0 runs them padded but unrecorded. Default: every row bucket, where
   * decode steps are recorded and row buckets are on.
   */
  readonly mixedBuckets?: number;
  /**
   * Batch sizes whose decode steps are recorded; a decode of b sequences replays the smallest
   * that holds it, pad rows idle (step-padding.ts). 'exact' records every size up to maxSeqs.
   * Absent: `defaultDecodeBatchBuckets(maxSeqs)` (1, 2, 4, multiples of 8, maxSeqs).
   */
  readonly decodeBatchBuckets?: readonly number[] | 'exact';
  /** CTAs of the attention dispatches (default: BatchAttention's; benchmarks compare). */
  readonly attentionGrid?: number;
  /**
   * Keep projection matrices stored as Q8_0/Q4_0/Q4_K/Q6_K quantized on the device (default true);
   * false dequantizes them at load (the reference path the quantized one is checked against).
   */
  readonly keepQuantized?: boolean;
  /** Serve LoRA adapters: the graph gains the adapter input and stacks of `slots` adapters up to rank `rmax`. */
  readonly lora?: LoraGraphOptions;
}

/** What a runner is built from once loaded. */
export interface LoadedLlama {
  readonly backend: Backend;
  readonly config: LlamaConfig;
  readonly exe: Executable;
  readonly weights: Tensor[];
  readonly kv: PagedKvCache;
  readonly maxTokens: number;
  readonly maxSeqs: number;
  readonly recordDecode: boolean;
  readonly prefillBuckets?: number;
  readonly mixedRowBuckets?: readonly number[] | 'off';
  readonly mixedBuckets?: number;
  /** Batch sizes of the recorded decode steps, ascending, maxSeqs last. */
  readonly decodeBatchBuckets: readonly number[];
  readonly lora: DeviceAdapterStacks | null;
  /** Weights kept quantized on the device, by format (e.g. { q4_k: 7, q8_0: 14 }). */
  readonly quantizedWeights: Readonly<Record<string, number>>;
}

/** Whether the backend runs the Atom ops (the WebGPU kernels need `packed_4x8_integer_dot_product`). */
function w4a4Served(backend: Backend, cfg: LlamaConfig): boolean {
  const k = cfg.hiddenSize;
  const n = cfg.numHeads * cfg.headDim;
  return (
    backend.supportsOp('atom_quantize', { prologue: 'rmsnorm', reordered: true, eps: cfg.rmsNormEps }, [
      { dtype: 'f32', shape: [1, k] },
      { dtype: 'f32', shape: [k] },
      { dtype: 'i32', shape: [k] },
    ]) &&
    backend.supportsOp('atom_matmul', { n, k }, [
      { dtype: 'i8', shape: [1, k] },
      { dtype: 'f32', shape: [1, k / 128] },
      { dtype: 'u8', shape: [w4a4WeightBytes(n, k)] },
    ])
  );
}

/** Float pages the default KV budget holds; a quantized cache gets as many pages as fit in the same bytes. */
const BUDGET_PAGES = 4096;

/**
 * The default page count: every sequence's full context, within the bytes of BUDGET_PAGES float
 * pages (so int8 pages hold ~1.9× and int4 ~3.8× the tokens of f16 ones in that memory).
 */
export function defaultPages(
  cfg: LlamaConfig,
  actDtype: DType,
  kvCache: KvCacheDtype | undefined,
  maxSeqs: number,
  pageSize: number,
): number {
  const per = (d: KvDtype) => kvBytesPerToken(d, cfg.numKvHeads, cfg.headDim);
  const budget = Math.floor((BUDGET_PAGES * per(actDtype)) / per(kvCache && kvCache !== 'f16' ? kvCache : actDtype));
  return Math.min(budget, maxSeqs * Math.ceil(cfg.maxPositionEmbeddings / pageSize));
}

export async function loadLlama(
  model: { readonly config: LlamaConfig; readonly weights: TensorSource },
  o: LlamaRunnerOptions,
): Promise<LoadedLlama> {
  const { backend } = o;
  const cfg = model.config;
  const actDtype = o.actDtype ?? (backend.caps.f16 ? 'f16' : 'f32');
  const stored = model.weights.tensors.get('model.embed_tokens.weight')?.dtype;
  const weightDtype = o.weightDtype ?? (stored === 'f16' || stored === 'bf16' || stored === 'f32' ? stored : 'f16');
  const maxTokens = o.maxTokens ?? 512;
  const maxSeqs = o.maxSeqs ?? 64;
  const pageSize = o.pageSize ?? 16;
  const numPages = o.numPages ?? defaultPages(cfg, actDtype, o.kvCache, maxSeqs, pageSize);
  const quantized = o.keepQuantized === false ? new Map() : quantizedWeightPlan(cfg, model.weights);
  // a W4A4 checkpoint runs the Atom kernels where the backend has them; elsewhere (and with
  // keepQuantized false) its projections load as their dequantized W4 weights
  const atom =
    o.keepQuantized !== false && hasW4a4(model.weights) && w4a4Served(backend, cfg) ? model.weights : undefined;
  const w4a4 = atom ? new Map([...atom.projections].map(([n, p]) => [n, { n: p.n, k: p.k }])) : undefined;
  // the W4A4 layer has no adapter term (its projections are atom_matmul, not the float `linear`)
  if (w4a4 && o.lora) throw new Error('LoRA adapters are not served on a W4A4 checkpoint; serve the float checkpoint');
  // adapter stacks in f16 where the device has it: a step's LoRA cost is the A/B bytes it reads
  const loraOpts = o.lora && {
    ...o.lora,
    dtype: loraStackDtype(backend.caps.f16, loraShapesOf(cfg), o.lora.rmax, o.lora.dtype),
  };
  const lora = loraOpts ? { lora: loraOpts } : {};
  const exe = compile(
    llamaModule(cfg, { maxTokens, maxSeqs, weightDtype, actDtype, quantized, ...lora, ...(w4a4 ? { w4a4 } : {}) }),
  );
  const weights = await uploadWeights(
    backend,
    cfg,
    model.weights,
    weightDtype,
    o.onProgress,
    undefined,
    quantized,
    atom,
  );
  const kv = new PagedKvCache(backend, cfg, {
    numPages,
    pageSize,
    maxTokens,
    maxSeqs,
    dtype: actDtype,
    ...(o.kvCache ? { kvCache: o.kvCache } : {}),
    attentionGrid: o.attentionGrid,
  });
  const recordDecode = o.recordDecode ?? backend.record !== undefined;
  const stacks = loraOpts ? new DeviceAdapterStacks(backend, cfg, loraOpts) : null;
  const byFormat: Record<string, number> = {};
  for (const a of quantized.values()) byFormat[a.format] = (byFormat[a.format] ?? 0) + 1;
  if (w4a4) byFormat.w4a4 = w4a4.size;
  return {
    backend,
    config: cfg,
    exe,
    weights,
    kv,
    maxTokens,
    maxSeqs,
    recordDecode,
    ...(o.prefillBuckets === undefined ? {} : { prefillBuckets: o.prefillBuckets }),
    ...(o.mixedRowBuckets === undefined ? {} : { mixedRowBuckets: o.mixedRowBuckets }),
    ...(o.mixedBuckets === undefined ? {} : { mixedBuckets: o.mixedBuckets }),
    decodeBatchBuckets: normalizeRowBuckets(
      o.decodeBatchBuckets === 'exact'
        ? Array.from({ length: maxSeqs }, (_, i) => i + 1)
        : (o.decodeBatchBuckets ?? defaultDecodeBatchBuckets(maxSeqs)),
      maxSeqs,
    ),
    lora: stacks,
    quantizedWeights: byFormat,
  };
}
