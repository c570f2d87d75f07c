/**
 * Which of a checkpoint's Llama weights stay quantized on the device, and their upload as stored.
 *
 * Every projection matrix stored in a format the `quant_matmul` kernels read (GGUF Q8_0, Q4_0,
 * Q4_K, Q6_K) stays in it. The embedding table does not: the `embedding` gather reads a float
 * table, and a step reads only its own tokens' rows of it, so its bandwidth is no concern; it is
 * dequantized at load (as is the LM head when tied to it, since the head then is that table).
 */
import type { Backend, Tensor } from '../../backends/backend.js';
import type { TensorSource } from '../../io/tensor-source.js';
import { type QuantFormat, weightBytes } from '../../quant/formats.js';
import type { QuantMatmulAttrs } from '../../quant/ops.js';
import { weightNames } from './graph.js';
import type { LlamaConfig } from './llama-config.js';

/** A tensor source that can hand out quantized matrices as stored (GgufAsHf). */
export interface StoredQuantizedSource extends TensorSource {
  storedQuantFormat(name: string): QuantFormat | null;
  readStored(name: string): Promise<Uint8Array>;
}

export function hasStoredQuantized(s: TensorSource): s is StoredQuantizedSource {
  const q = s as Partial<StoredQuantizedSource>;
  return typeof q.storedQuantFormat === 'function' && typeof q.readStored === 'function';
}

/** Checkpoint name → `quant_matmul` attributes of each weight that stays quantized (empty for float checkpoints). */
export function quantizedWeightPlan(cfg: LlamaConfig, source: TensorSource): Map<string, QuantMatmulAttrs> {
  const plan = new Map<string, QuantMatmulAttrs>();
  if (!hasStoredQuantized(source)) return plan;
  for (const name of weightNames(cfg)) {
    if (name === 'model.embed_tokens.weight') continue;
    const format = source.storedQuantFormat(name);
    const shape = source.tensors.get(name)?.shape;
    if (format === null || shape?.length !== 2) continue;
    plan.set(name, { format, n: shape[0]!, k: shape[1]! });
  }
  return plan;
}

/** Uploads one planned weight's stored bytes as a u8 tensor. */
export async function uploadStored(
  backend: Backend,
  source: StoredQuantizedSource,
  name: string,
  attrs: QuantMatmulAttrs,
): Promise<Tensor> {
  const bytes = await source.readStored(name);
  const want = weightBytes(attrs.format, attrs.n, attrs.k);
  if (bytes.length !== want) throw new Error(`${name}: ${bytes.length} stored bytes, expected ${want}`);
  const t = backend.alloc({ dtype: 'u8', shape: [want] }, name, 'weights');
  backend.write(t, bytes);
  return t;
}
