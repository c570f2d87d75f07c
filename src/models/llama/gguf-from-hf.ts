/**
 * HF Llama checkpoint → GGUF file that llama.cpp loads, written one tensor at a time.
 *
 * What llama.cpp's own converter does, and what `GgufAsHf` undoes on the way back: GGUF names
 * (`blk.N.attn_q.weight`), Q/K rows permuted for ggml's adjacent-pair RoPE, 1-D tensors (norms,
 * biases) in F32, matrices in F16 or BF16, and `llama.*` metadata with llama.cpp's value types
 * (u32 sizes, f32 epsilon and RoPE base: it rejects a key of the wrong type).
 *
 * The tokenizer written is a placeholder: a SentencePiece-type vocabulary of made-up pieces, one
 * per id, so llama.cpp accepts the file and callers feed token ids directly. Benchmark checkpoints
 * have random weights and no tokenizer; text through such a file is meaningless anyway.
 */
import {
  bf16Bits,
  bf16ToNumber,
  f16Bits,
  f16ToNumber,
  numel,
  toFloat64,
  type DType,
  type HostArray,
} from '../../tensor/dtype.js';
import { UnsupportedModelError } from '../../io/errors.js';
import { hfNameToGguf, permuteRotaryRows } from './gguf-llama.js';
import { ggmlBlockLayout, type GgmlTypeName } from '../../io/gguf-types.js';
import { encodeGgml } from '../../io/gguf-quantize.js';
import { writeGgufLazily, type GgufTensorLayout, type GgufValueInput } from '../../io/gguf-writer.js';
import type { LlamaConfig } from './llama-config.js';
import { llamaTensorShapes } from './llama-tensors.js';
import { Q4_K_M_FILE_TYPE, q4KMTypeOf } from './gguf-q4-k-m.js';
import type { TensorSource } from '../../io/tensor-source.js';

/**
 * Storage of 2-D tensors: float, quantized by our ggml quantizers (src/io/gguf-quantize.ts), or
 * llama.cpp's Q4_K_M mix of Q4_K and Q6_K (gguf-q4-k-m.ts).
 */
export type GgufMatrixType = GgufTensorType | 'Q4_K_M';
/** One storage type for a tensor. */
export type GgufTensorType = 'F16' | 'BF16' | GgufQuantType;
export type GgufQuantType = 'Q8_0' | 'Q4_0' | 'Q4_K' | 'Q6_K';

const isQuantType = (t: GgmlTypeName): t is GgufQuantType =>
  t === 'Q8_0' || t === 'Q4_0' || t === 'Q4_K' || t === 'Q6_K';

export interface LlamaGgufOptions {
  /**
   * Storage type of 2-D tensors (default F16: every llama.cpp backend has kernels for it). A
   * matrix whose row length is not a whole number of the quantized type's blocks is written F16.
   */
  readonly type?: GgufMatrixType;
  /** A different storage type for some matrices (e.g. Q8_0 for some, Q4_K for the rest). */
  readonly matrixType?: (hfName: string, shape: readonly number[]) => GgufTensorType;
  readonly name?: string;
  /** Called after each tensor is written (progress). */
  readonly onTensor?: (name: string, index: number, total: number) => void;
}

export interface LlamaGgufReport {
  readonly tensors: number;
  readonly bytes: number;
  /** Values the conversion to the storage type changed (bf16 → f16 rounds values below f16's normal range). */
  readonly inexact: number;
}

/** llama.cpp's `general.file_type` (LLAMA_FTYPE_MOSTLY_F16 / _BF16 / _Q8_0 / _Q4_0 / _Q4_K_S / _Q6_K / _Q4_K_M). */
const FILE_TYPE: Record<GgufMatrixType, number> = {
  F16: 1,
  BF16: 32,
  Q8_0: 7,
  Q4_0: 2,
  Q4_K: 14,
  Q6_K: 18,
  Q4_K_M: Q4_K_M_FILE_TYPE,
};

const f32 = (value: number): GgufValueInput => ({ kind: 'f32', value });
const u32 = (value: number): GgufValueInput => ({ kind: 'u32', value });

/**
 * Tokenizer metadata of a placeholder SentencePiece vocabulary of `vocabSize` pieces: id 0
 * `<unk>`, BOS and EOS as control tokens, the 256 byte pieces `<0x00>`…`<0xFF>` on the next free
 * ids (llama.cpp's SPM tokenizer falls back to them for any text, and node-llama-cpp tokenizes a
 * few strings when it loads a model), `<tN>` for the rest.
 */
export function placeholderVocabMetadata(
  vocabSize: number,
  bos: number | null,
  eos: number | null,
): Record<string, GgufValueInput> {
  const NORMAL = 1,
    UNKNOWN = 2,
    CONTROL = 3,
    BYTE = 6;
  const special = new Set([bos, eos].filter((id): id is number => id !== null && id < vocabSize));
  if (vocabSize < 257 + special.size + (special.has(0) ? 0 : 1))
    throw new RangeError(`placeholder vocabulary: ${vocabSize} ids cannot hold <unk>, BOS/EOS and 256 byte pieces`);
  const tokens = Array.from({ length: vocabSize }, (_, i) => `<t${i}>`);
  const types = new Array<number>(vocabSize).fill(NORMAL);
  for (const id of special) types[id] = CONTROL;
  if (!special.has(0)) {
    tokens[0] = '<unk>';
    types[0] = UNKNOWN;
  }
  for (let id = 1, byte = 0; byte < 256; id++) {
    if (special.has(id)) continue;
    tokens[id] = `<0x${byte.toString(16).toUpperCase().padStart(2, '0')}>`;
    types[id] = BYTE;
    byte++;
  }
  const meta: Record<string, GgufValueInput> = {
    'tokenizer.ggml.model': 'llama',
    'tokenizer.ggml.tokens': { kind: 'array', itemKind: 'string', items: tokens },
    'tokenizer.ggml.scores': { kind: 'array', itemKind: 'f32', items: new Array<number>(vocabSize).fill(0) },
    'tokenizer.ggml.token_type': { kind: 'array', itemKind: 'i32', items: types },
    'tokenizer.ggml.add_bos_token': false,
    'tokenizer.ggml.add_eos_token': false,
  };
  if (!special.has(0)) meta['tokenizer.ggml.unknown_token_id'] = u32(0);
  if (bos !== null && bos < vocabSize) meta['tokenizer.ggml.bos_token_id'] = u32(bos);
  if (eos !== null && eos < vocabSize) meta['tokenizer.ggml.eos_token_id'] = u32(eos);
  return meta;
}

/** `llama.*` and `general.*` metadata for `config`; refuses what the `llama` architecture cannot express. */
export function llamaGgufMetadata(
  config: LlamaConfig,
  type: GgufMatrixType,
  name: string,
): Record<string, GgufValueInput> {
  const refuse = (what: string) => {
    throw new UnsupportedModelError(
      name,
      `cannot be written as a llama GGUF: ${what}`,
      'Llama / Mistral configs without sliding window, MLP biases or llama3 RoPE scaling',
    );
  };
  if (config.modelType !== 'llama' && config.modelType !== 'mistral') refuse(`model_type '${config.modelType}'`);
  if (config.slidingWindow !== null) refuse('a sliding attention window');
  if (config.mlpBias) refuse('MLP biases');
  if (config.ropeScaling !== null && config.ropeScaling.type !== 'linear')
    refuse(`RoPE scaling '${config.ropeScaling.type}'`);
  const meta: Record<string, GgufValueInput> = {
    'general.architecture': 'llama',
    'general.name': name,
    'general.file_type': u32(FILE_TYPE[type]),
    'llama.vocab_size': u32(config.vocabSize),
    'llama.context_length': u32(config.maxPositionEmbeddings),
    'llama.embedding_length': u32(config.hiddenSize),
    'llama.block_count': u32(config.numLayers),
    'llama.feed_forward_length': u32(config.intermediateSize),
    'llama.attention.head_count': u32(config.numHeads),
    'llama.attention.head_count_kv': u32(config.numKvHeads),
    'llama.attention.layer_norm_rms_epsilon': f32(config.rmsNormEps),
    'llama.rope.dimension_count': u32(config.headDim),
    'llama.rope.freq_base': f32(config.ropeTheta),
  };
  if (config.headDim * config.numHeads !== config.hiddenSize) {
    meta['llama.attention.key_length'] = u32(config.headDim);
    meta['llama.attention.value_length'] = u32(config.headDim);
  }
  if (config.ropeScaling?.type === 'linear') {
    meta['llama.rope.scaling.type'] = 'linear';
    meta['llama.rope.scaling.factor'] = f32(config.ropeScaling.factor);
  }
  return meta;
}

let bf16ToF16Table: Uint16Array | undefined;

/** Every bf16 bit pattern's nearest f16: one table lookup per value keeps an 8B conversion in seconds. */
function bf16ToF16(): Uint16Array {
  if (bf16ToF16Table === undefined) {
    bf16ToF16Table = new Uint16Array(65536);
    for (let h = 0; h < 65536; h++) bf16ToF16Table[h] = f16Bits(bf16ToNumber(h));
  }
  return bf16ToF16Table;
}

/** Encodes `data` (of `dtype`) as `target`; counts values the target cannot hold exactly, and throws on overflow. */
function encodeAs(
  target: 'F32' | 'F16' | 'BF16',
  dtype: DType,
  data: HostArray,
  tensor: string,
): { bytes: Uint8Array; inexact: number } {
  const n = data.length;
  const value = (i: number) =>
    dtype === 'bf16' ? bf16ToNumber(data[i]!) : dtype === 'f16' ? f16ToNumber(data[i]!) : data[i]!;
  if (dtype !== 'f32' && dtype !== 'f16' && dtype !== 'bf16')
    throw new UnsupportedModelError(tensor, `has dtype ${dtype}`, 'f32, f16 or bf16 weights');
  let inexact = 0;
  let out: Float32Array | Uint16Array;
  if (target === 'F32') {
    out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = value(i); // f16 and bf16 values are all f32 values
  } else if ((target === 'F16' && dtype === 'f16') || (target === 'BF16' && dtype === 'bf16')) {
    out = Uint16Array.from(data as Uint16Array);
  } else if (target === 'F16' && dtype === 'bf16') {
    const table = bf16ToF16();
    out = new Uint16Array(n);
    for (let i = 0; i < n; i++) {
      const h = table[data[i]!]!;
      out[i] = h;
      if ((h & 0x7c00) === 0x7c00 && (data[i]! & 0x7f80) !== 0x7f80)
        throw new RangeError(`${tensor}: value ${bf16ToNumber(data[i]!)} at ${i} overflows F16; write BF16 instead`);
      // Within f16's normal range bf16's 8-bit significand fits f16's 11 bits: only subnormals round.
      if ((h & 0x7c00) === 0 && bf16ToNumber(data[i]!) !== f16ToNumber(h)) inexact++;
    }
  } else {
    const bits = target === 'F16' ? f16Bits : bf16Bits;
    const back = target === 'F16' ? f16ToNumber : bf16ToNumber;
    out = new Uint16Array(n);
    for (let i = 0; i < n; i++) {
      const v = value(i);
      const h = bits(v);
      out[i] = h;
      const r = back(h);
      if (!Number.isFinite(r) && Number.isFinite(v))
        throw new RangeError(`${tensor}: value ${v} at ${i} overflows ${target}`);
      if (r !== v && !(Number.isNaN(r) && Number.isNaN(v))) inexact++;
    }
  }
  return { bytes: new Uint8Array(out.buffer, out.byteOffset, out.byteLength), inexact };
}

/**
 * Writes `source` (HF names, validated against `config`) as a llama GGUF at `path`, reading one
 * tensor at a time: peak memory is about three copies of the largest tensor.
 *
 * @example
 * const m = await openModel('llama3-8b-random');
 * await writeLlamaGguf(m.weights, m.config, 'llama3-8b.f16.gguf');
 */
export async function writeLlamaGguf(
  source: TensorSource,
  config: LlamaConfig,
  path: string,
  options: LlamaGgufOptions = {},
): Promise<LlamaGgufReport> {
  const type = options.type ?? 'F16';
  const metadata = {
    ...llamaGgufMetadata(config, type, options.name ?? path),
    ...placeholderVocabMetadata(config.vocabSize, config.bosTokenId, config.eosTokenIds[0] ?? null),
  };
  const hfNames = [...llamaTensorShapes(config).keys()];
  const mix = type === 'Q4_K_M' ? q4KMTypeOf(config) : undefined;
  const layouts: GgufTensorLayout[] = [];
  for (const hf of hfNames) {
    const info = source.tensors.get(hf);
    if (info === undefined)
      throw new UnsupportedModelError(hf, 'is missing from the checkpoint', 'a checkpoint matching its config.json');
    const name = hfNameToGguf(hf);
    if (name === undefined) throw new UnsupportedModelError(hf, 'has no GGUF name', 'Llama tensor names');
    let storage: GgmlTypeName =
      info.shape.length === 1 ? 'F32' : (options.matrixType?.(hf, info.shape) ?? (type === 'Q4_K_M' ? mix!(hf) : type));
    if (isQuantType(storage) && info.shape[info.shape.length - 1]! % ggmlBlockLayout(storage).blockElements !== 0)
      storage = 'F16';
    const { blockElements, blockBytes } = ggmlBlockLayout(storage);
    layouts.push({
      name,
      type: storage,
      shape: info.shape,
      byteLength: (numel(info.shape) / blockElements) * blockBytes,
    });
  }
  let inexact = 0;
  let bytes = 0;
  await writeGgufLazily(path, { metadata, tensors: layouts }, async (i) => {
    const hf = hfNames[i]!;
    const layout = layouts[i]!;
    const info = source.tensors.get(hf)!;
    let data = await source.read(hf);
    const heads = /\.q_proj\./.test(hf) ? config.numHeads : /\.k_proj\./.test(hf) ? config.numKvHeads : 0;
    if (heads > 0) data = permuteRotaryRows(data, heads, info.shape.length === 2 ? info.shape[1]! : 1);
    const encoded = isQuantType(layout.type)
      ? { bytes: encodeGgml(layout.type, toFloat64(info.dtype, data)), inexact: 0 }
      : encodeAs(layout.type as 'F32' | 'F16' | 'BF16', info.dtype, data, hf);
    inexact += encoded.inexact;
    bytes += encoded.bytes.byteLength;
    options.onTensor?.(layout.name, i, layouts.length);
    return encoded.bytes;
  });
  return { tensors: layouts.length, bytes, inexact };
}
