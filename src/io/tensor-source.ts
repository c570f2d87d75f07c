/**
 * The contract between checkpoint readers (safetensors, GGUF) and model code.
 *
 * Model code asks for tensors by name and receives host arrays (or bytes written into a
 * buffer it owns, e.g. a mapped GPU staging buffer), one tensor at a time, so a checkpoint
 * never has to fit in RAM.
 */
import type { DType, HostArray } from '../tensor/dtype.js';

export interface TensorInfo {
  /** Element type of what `read` returns (for GGUF quantized tensors: the dequantized type). */
  readonly dtype: DType;
  /** Row-major shape, outermost dimension first (HF/PyTorch order). */
  readonly shape: readonly number[];
  /** Bytes `read` returns: numel × bytesPerElement(dtype). */
  readonly byteLength: number;
  /** The file the tensor lives in (a shard, for sharded checkpoints). */
  readonly file: string;
}

/** Progress of a multi-tensor load, reported after each chunk so a bar can move smoothly. */
export interface LoadProgress {
  readonly tensor: string;
  readonly tensorsDone: number;
  readonly tensorsTotal: number;
  readonly bytesDone: number;
  readonly bytesTotal: number;
}

export type ProgressCallback = (p: LoadProgress) => void;

export interface TensorSource {
  readonly tensors: ReadonlyMap<string, TensorInfo>;
  /** Reads one tensor into a fresh host array of its dtype. */
  read(name: string): Promise<HostArray>;
  /**
   * Reads one tensor's bytes into `target` (at least `byteLength` bytes), e.g. a mapped
   * staging buffer, so no intermediate copy is made. Returns the bytes written.
   */
  readInto(name: string, target: Uint8Array): Promise<number>;
  /**
   * Reads bytes [start, start + target.length) of one tensor as stored into `target`: chunked
   * loads into staging memory. Present where tensors are stored as `read` returns them (safetensors).
   */
  readRange?(name: string, start: number, target: Uint8Array): Promise<void>;
  /** Releases file handles; later reads fail. */
  close(): Promise<void>;
}

/**
 * Visits every tensor of `source` in the order given (default: the source's order), reading one
 * ahead of the visit and reporting progress, so peak host memory is two tensors.
 *
 * @example
 * await loadEach(ckpt, async (name, data) => upload(name, data), { onProgress: (p) => bar.update(p.bytesDone) });
 */
export async function loadEach(
  source: TensorSource,
  visit: (name: string, data: HostArray, info: TensorInfo) => Promise<void> | void,
  options: { names?: readonly string[]; onProgress?: ProgressCallback } = {},
): Promise<void> {
  const names = options.names ?? [...source.tensors.keys()];
  let bytesTotal = 0;
  for (const name of names) {
    const info = source.tensors.get(name);
    if (info === undefined) throw new Error(`loadEach: no tensor '${name}' in this checkpoint`);
    bytesTotal += info.byteLength;
  }
  let bytesDone = 0;
  // One tensor read ahead: the file read of tensor i+1 (off the JS thread) overlaps the visit of
  // tensor i (a conversion or a GPU upload, on it), so loading runs at the slower of the two rates
  // instead of their sum. Peak host memory is two tensors.
  let next: Promise<HostArray> | null = names.length ? source.read(names[0]!) : null;
  for (let i = 0; i < names.length; i++) {
    const name = names[i]!;
    const info = source.tensors.get(name)!;
    const data = await next!;
    next = i + 1 < names.length ? source.read(names[i + 1]!) : null;
    // a failed read-ahead surfaces when it is awaited, not as an unhandled rejection meanwhile
    next?.catch(() => {});
    await visit(name, data, info);
    bytesDone += info.byteLength;
    options.onProgress?.({ tensor: name, tensorsDone: i + 1, tensorsTotal: names.length, bytesDone, bytesTotal });
  }
}
