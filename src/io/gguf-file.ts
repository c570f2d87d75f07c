/**
 * A GGUF file as a tensor source: tensors keep their GGUF names and come back in HF order
 * (outermost dimension first), quantized ones dequantized on load. Raw block bytes stay
 * available (`readRaw`) for kernels that will consume quantized weights directly.
 */
import type { ByteSource } from '../platform/byte-source.js';
import { allocHost, bytesPerElement, f16Bits, numel, type DType, type HostArray } from '../tensor/dtype.js';
import { CheckpointError, describeError } from './errors.js';
import { openPath, readExactly } from './file-io.js';
import { dequantizeToF32 } from './gguf-dequantize.js';
import { readGgufHeader, type GgufHeader, type GgufValue } from './gguf-header.js';
import { ggmlBlockLayout, isQuantized, READABLE_GGML_TYPES, type GgmlTypeName } from './gguf-types.js';
import type { TensorInfo, TensorSource } from './tensor-source.js';

export interface GgufTensorInfo extends TensorInfo {
  readonly ggmlType: GgmlTypeName;
  /** Absolute offset and size of the stored (possibly quantized) bytes. */
  readonly fileOffset: number;
  readonly fileBytes: number;
}

export interface GgufOpenOptions {
  /** What quantized tensors dequantize to (F32/F16/BF16 tensors keep their stored dtype). Default f32. */
  readonly dequantizeTo?: 'f32' | 'f16';
}

/** Rows dequantized per step: bounds the raw bytes held beside the output to a few MiB. */
const STEP_BYTES = 8 * 2 ** 20;

const PASSTHROUGH: Partial<Record<GgmlTypeName, DType>> = {
  F32: 'f32',
  F16: 'f16',
  BF16: 'bf16',
  I8: 'i8',
  I32: 'i32',
};

export class GgufFile implements TensorSource {
  private closed = false;

  private constructor(
    readonly path: string,
    private readonly source: ByteSource,
    readonly header: GgufHeader,
    readonly tensors: ReadonlyMap<string, GgufTensorInfo>,
    /** Tensors in a ggml type Tessera cannot dequantize yet (listed so errors can name them). */
    readonly unsupported: ReadonlyMap<string, { ggmlType: GgmlTypeName; shape: readonly number[] }>,
  ) {}

  /**
   * Opens and validates a GGUF file (a path, or a URL where the platform reads URLs), or a byte
   * source already open (a Blob, a ranged URL); tensor data stays where it is.
   *
   * @example
   * const g = await GgufFile.open('llama-3.2-1b.Q4_K_M.gguf');
   * g.metadata.get('llama.block_count'); // 16
   * const emb = await g.read('token_embd.weight'); // Float32Array, dequantized
   */
  static async open(file: string | ByteSource, options: GgufOpenOptions = {}): Promise<GgufFile> {
    const source = typeof file === 'string' ? await openPath(file) : file;
    const path = source.name;
    try {
      const header = await readGgufHeader(source);
      const tensors = new Map<string, GgufTensorInfo>();
      const unsupported = new Map<string, { ggmlType: GgmlTypeName; shape: readonly number[] }>();
      for (const t of header.tensors) {
        const shape = [...t.dims].reverse();
        if (!READABLE_GGML_TYPES.includes(t.type)) {
          unsupported.set(t.name, { ggmlType: t.type, shape });
          continue;
        }
        const dtype = PASSTHROUGH[t.type] ?? options.dequantizeTo ?? 'f32';
        tensors.set(t.name, {
          dtype,
          shape,
          byteLength: numel(shape) * bytesPerElement(dtype),
          file: path,
          ggmlType: t.type,
          fileOffset: header.dataStart + t.offset,
          fileBytes: t.byteLength,
        });
      }
      return new GgufFile(path, source, header, tensors, unsupported);
    } catch (e) {
      await source.close();
      throw e;
    }
  }

  get metadata(): ReadonlyMap<string, GgufValue> {
    return this.header.metadata;
  }

  info(name: string): GgufTensorInfo {
    const info = this.tensors.get(name);
    if (info !== undefined) return info;
    const skipped = this.unsupported.get(name);
    if (skipped !== undefined) {
      throw new CheckpointError(this.path, `quantization type ${skipped.ggmlType} is not supported`, {
        tensor: name,
        hint: `Tessera reads ${READABLE_GGML_TYPES.join(', ')}: use a file quantized to one of those (e.g. Q4_K_M, Q8_0) or convert this one`,
      });
    }
    throw new CheckpointError(this.path, 'no such tensor in this file', {
      tensor: name,
      hint: 'check the tensor name (GGUF names look like blk.0.attn_q.weight)',
    });
  }

  /** The stored bytes of a tensor, quantized blocks as they are. */
  async readRaw(name: string): Promise<Uint8Array> {
    const info = this.info(name);
    const out = new Uint8Array(info.fileBytes);
    await this.readAt(name, info.fileOffset, out);
    return out;
  }

  /** A whole tensor in its output dtype (quantized tensors dequantized). */
  async read(name: string): Promise<HostArray> {
    const info = this.info(name);
    const rows = info.shape.length === 0 ? 1 : info.shape.slice(0, -1).reduce((a, b) => a * b, 1);
    return this.readRows(name, 0, rows);
  }

  async readInto(name: string, target: Uint8Array): Promise<number> {
    const data = await this.read(name);
    if (target.byteLength < data.byteLength) {
      throw new RangeError(
        `readInto('${name}'): target holds ${target.byteLength} bytes, the tensor has ${data.byteLength}`,
      );
    }
    target.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    return data.byteLength;
  }

  /**
   * Rows [first, first + count) of a tensor viewed as [rows, rowLength] (rowLength = innermost
   * dimension), dequantized: loads a huge embedding table piece by piece.
   */
  async readRows(name: string, first: number, count: number): Promise<HostArray> {
    const info = this.info(name);
    const rowLength = info.shape.length === 0 ? 1 : info.shape[info.shape.length - 1]!;
    const rows = info.shape.length === 0 ? 1 : info.shape.slice(0, -1).reduce((a, b) => a * b, 1);
    if (
      !Number.isSafeInteger(first) ||
      !Number.isSafeInteger(count) ||
      first < 0 ||
      count < 0 ||
      first + count > rows
    ) {
      throw new RangeError(`readRows('${name}'): rows [${first}, ${first + count}) are outside its ${rows} rows`);
    }
    const { blockElements, blockBytes } = ggmlBlockLayout(info.ggmlType);
    const rowBytes = (rowLength / blockElements) * blockBytes;
    let out: HostArray;
    try {
      out = allocHost(info.dtype, count * rowLength);
    } catch (e) {
      throw new CheckpointError(
        this.path,
        `cannot allocate ${count * rowLength} ${info.dtype} values (${describeError(e)})`,
        { tensor: name, hint: 'read it in pieces with readRows()' },
      );
    }
    if (!isQuantized(info.ggmlType)) {
      await this.readAt(
        name,
        info.fileOffset + first * rowBytes,
        new Uint8Array(out.buffer, out.byteOffset, out.byteLength),
      );
      return out;
    }
    const step = Math.max(1, Math.floor(STEP_BYTES / Math.max(rowBytes, 1)));
    const raw = new Uint8Array(Math.min(step, count) * rowBytes);
    const f32 = info.dtype === 'f32' ? undefined : new Float32Array(Math.min(step, count) * rowLength);
    for (let r = 0; r < count; r += step) {
      const n = Math.min(step, count - r);
      const src = raw.subarray(0, n * rowBytes);
      await this.readAt(name, info.fileOffset + (first + r) * rowBytes, src);
      if (f32 === undefined) {
        dequantizeToF32(info.ggmlType, src, (out as Float32Array).subarray(r * rowLength, (r + n) * rowLength));
      } else {
        const tmp = f32.subarray(0, n * rowLength);
        dequantizeToF32(info.ggmlType, src, tmp);
        const dst = out as Uint16Array;
        for (let i = 0; i < tmp.length; i++) dst[r * rowLength + i] = f16Bits(tmp[i]!);
      }
    }
    return out;
  }

  private async readAt(name: string, position: number, target: Uint8Array): Promise<void> {
    if (this.closed)
      throw new CheckpointError(this.path, 'read after close()', { tensor: name, hint: 'open the file again' });
    await readExactly(this.source, target, position, { tensor: name });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.source.close();
  }
}
