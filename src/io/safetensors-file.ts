/**
 * One safetensors file, opened lazily: the header is read and validated, tensor bytes are read
 * from the file (a local file, a URL, a Blob) only when asked for, one tensor (or one range of a
 * tensor) at a time.
 */
import type { ByteSource } from '../platform/byte-source.js';
import { allocHost, bytesPerElement, type HostArray } from '../tensor/dtype.js';
import { CheckpointError, describeError } from './errors.js';
import { openPath, readExactly } from './file-io.js';
import { checkHeaderLength, parseSafetensorsHeader, SAFETENSORS_TO_DTYPE } from './safetensors-header.js';
import type { TensorInfo } from './tensor-source.js';

export interface SafetensorsTensorInfo extends TensorInfo {
  /** The dtype as the file spells it. */
  readonly fileDtype: string;
  /** Absolute byte offset of the tensor's data in `file`. */
  readonly fileOffset: number;
}

/** A tensor whose file dtype Tessera does not read (e.g. I64 position ids): listed, never loaded. */
export interface UnsupportedTensor {
  readonly fileDtype: string;
  readonly shape: readonly number[];
  readonly file: string;
}

export class SafetensorsFile {
  private closed = false;

  private constructor(
    readonly path: string,
    private readonly source: ByteSource,
    readonly tensors: ReadonlyMap<string, SafetensorsTensorInfo>,
    readonly unsupported: ReadonlyMap<string, UnsupportedTensor>,
    readonly metadata: Readonly<Record<string, string>>,
  ) {}

  /**
   * Opens and validates one `.safetensors` file (a path, or a URL where the platform reads URLs), or
   * a byte source already open (a Blob, a ranged URL); tensor data stays where it is.
   *
   * @example
   * const f = await SafetensorsFile.open('model.safetensors');
   * const w = await f.read('model.embed_tokens.weight'); // Uint16Array of bf16 bits
   * await f.close();
   */
  static async open(file: string | ByteSource): Promise<SafetensorsFile> {
    const source = typeof file === 'string' ? await openPath(file) : file;
    const path = source.name;
    try {
      const size = source.size;
      const prefix = new Uint8Array(8);
      if (size >= 8) await readExactly(source, prefix, 0);
      const n = checkHeaderLength(path, prefix, size);
      const headerBytes = new Uint8Array(n);
      await readExactly(source, headerBytes, 8);
      const dataStart = 8 + n;
      const header = parseSafetensorsHeader(path, headerBytes, size - dataStart);
      const tensors = new Map<string, SafetensorsTensorInfo>();
      const unsupported = new Map<string, UnsupportedTensor>();
      for (const e of header.entries) {
        if (e.dtype === undefined) {
          unsupported.set(e.name, { fileDtype: e.fileDtype, shape: e.shape, file: path });
        } else {
          tensors.set(e.name, {
            dtype: e.dtype,
            shape: e.shape,
            byteLength: e.end - e.begin,
            file: path,
            fileDtype: e.fileDtype,
            fileOffset: dataStart + e.begin,
          });
        }
      }
      return new SafetensorsFile(path, source, tensors, unsupported, header.metadata);
    } catch (e) {
      await source.close();
      throw e;
    }
  }

  info(name: string): SafetensorsTensorInfo {
    const info = this.tensors.get(name);
    if (info !== undefined) return info;
    const skipped = this.unsupported.get(name);
    if (skipped !== undefined) {
      throw new CheckpointError(this.path, `dtype ${skipped.fileDtype} is not supported`, {
        tensor: name,
        hint: `Tessera reads ${Object.keys(SAFETENSORS_TO_DTYPE).join(', ')}: convert the checkpoint (e.g. to bf16 or f16)`,
      });
    }
    throw new CheckpointError(this.path, 'no such tensor in this file', {
      tensor: name,
      hint: 'check the tensor name against the checkpoint',
    });
  }

  /** Reads a whole tensor into a fresh host array of its dtype. */
  async read(name: string): Promise<HostArray> {
    const info = this.info(name);
    let out: HostArray;
    try {
      out = allocHost(info.dtype, info.byteLength / bytesPerElement(info.dtype));
    } catch (e) {
      throw new CheckpointError(
        this.path,
        `cannot allocate ${info.byteLength} bytes on the host (${describeError(e)})`,
        {
          tensor: name,
          hint: 'read the tensor in pieces with readRange() instead',
        },
      );
    }
    await this.readRange(name, 0, new Uint8Array(out.buffer, out.byteOffset, out.byteLength));
    return out;
  }

  /** Reads a whole tensor's bytes into `target` (which must hold at least byteLength bytes). */
  async readInto(name: string, target: Uint8Array): Promise<number> {
    const info = this.info(name);
    if (target.byteLength < info.byteLength) {
      throw new RangeError(
        `readInto('${name}'): target holds ${target.byteLength} bytes, the tensor has ${info.byteLength}`,
      );
    }
    await this.readRange(name, 0, target.subarray(0, info.byteLength));
    return info.byteLength;
  }

  /**
   * Reads `target.byteLength` bytes of a tensor starting `start` bytes into it: the primitive for
   * streaming a large tensor to the GPU through a small staging buffer.
   */
  async readRange(name: string, start: number, target: Uint8Array, onBytes?: (n: number) => void): Promise<void> {
    const info = this.info(name);
    if (this.closed)
      throw new CheckpointError(this.path, 'read after close()', { tensor: name, hint: 'open the checkpoint again' });
    if (!Number.isSafeInteger(start) || start < 0 || start + target.byteLength > info.byteLength) {
      throw new RangeError(
        `readRange('${name}'): bytes [${start}, ${start + target.byteLength}) are outside the tensor's ${info.byteLength} bytes`,
      );
    }
    await readExactly(this.source, target, info.fileOffset + start, { tensor: name, onBytes });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.source.close();
  }
}
