/**
 * A GGUF matrix kept quantized on the device: its stored block bytes are uploaded unchanged as a
 * u8 tensor, and `quant_matmul` with the returned attributes multiplies by it. This is the path
 * that replaces dequantizing to f32 at load (8× the memory and bandwidth of Q4_K).
 */
import type { Backend, Tensor } from '../backends/backend.js';
import type { GgufFile } from '../io/gguf-file.js';
import { formatOfGgmlType } from './codec.js';
import { weightBytes, whyShapeInvalid } from './formats.js';
import type { QuantMatmulAttrs } from './ops.js';

export interface QuantizedWeight {
  readonly tensor: Tensor;
  readonly attrs: QuantMatmulAttrs;
  /** Device bytes of the weight (the stored bytes; the f32-dequantized one would take 4·N·K). */
  readonly bytes: number;
}

/** Why the GGUF tensor cannot stay quantized on the device, or null. */
export function whyNotKeptQuantized(gguf: GgufFile, name: string): string | null {
  const info = gguf.info(name);
  const format = formatOfGgmlType(info.ggmlType);
  if (format === null) return `${name} is ${info.ggmlType}; kept quantized are Q8_0, Q4_0, Q4_K, Q6_K`;
  if (info.shape.length !== 2) return `${name} has shape [${info.shape.join(', ')}]; a matrix [N, K] is needed`;
  return whyShapeInvalid(format, info.shape[0]!, info.shape[1]!);
}

/** Uploads a GGUF matrix [N, K] as stored. Throws with the reason where it cannot stay quantized. */
export async function uploadGgufQuantized(backend: Backend, gguf: GgufFile, name: string): Promise<QuantizedWeight> {
  const why = whyNotKeptQuantized(gguf, name);
  if (why) throw new Error(`uploadGgufQuantized: ${why}`);
  const info = gguf.info(name);
  const format = formatOfGgmlType(info.ggmlType)!;
  const [n, k] = info.shape as [number, number];
  const raw = await gguf.readRaw(name);
  const bytes = weightBytes(format, n, k);
  if (raw.length !== bytes)
    throw new Error(`uploadGgufQuantized: ${name} holds ${raw.length} bytes, expected ${bytes}`);
  const tensor = backend.alloc({ dtype: 'u8', shape: [bytes] }, name, 'weights');
  backend.write(tensor, raw);
  return { tensor, attrs: { format, n, k }, bytes };
}
