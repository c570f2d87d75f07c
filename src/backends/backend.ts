/**
 * The narrow contract every backend (CPU, WebGPU) implements.
 *
 * Ops are named strings with plain-object attributes, executed in destination-passing style:
 * the caller allocates the outputs. That keeps the contract small (ggml's backend interface is
 * the model) and lets the compiler's memory planner own every allocation.
 */
import type { DType, HostArray } from '../tensor/dtype.js';
import type { Capabilities } from './capabilities.js';

export type { Capabilities, SubgroupMatrixConfig } from './capabilities.js';

export type Attrs = Readonly<Record<string, unknown>>;

export interface TensorDesc {
  readonly dtype: DType;
  readonly shape: readonly number[];
}

/** A tensor living on some backend. Its storage is the backend's business. */
export interface Tensor extends TensorDesc {
  readonly backend: string;
  readonly label: string;
}

/**
 * A host-readable buffer that a replay copies a tensor into: GPU-resident loops read small results
 * (drawn token ids) through a ring of these instead of a fresh staging buffer per read.
 */
export interface Readback {
  readonly bytes: number;
  /** Waits for the copies submitted into it, then returns its first `count` elements. */
  read(dtype: DType, count: number): Promise<HostArray>;
  destroy(): void;
}

/** Recorded work that replays without encoding it again (the CUDA-graph analog). */
export interface RecordedStream {
  /** Number of recorded dispatches. */
  readonly length: number;
  /** Device bytes the stream's own buffers take (uniforms, kernel scratch), where the backend knows them. */
  readonly ownedBytes?: number;
  replay(times?: number): void;
  /** One submit: this stream, then `then` streams, then copies of tensors into readbacks. */
  replayWith(then: readonly RecordedStream[], copies: readonly { from: Tensor; to: Readback }[], times?: number): void;
  /** Releases what the recording owns (uniform buffers, scratch). */
  destroy(): void;
}

/**
 * Streams bytes into tensors through reusable host-mapped staging memory, so a file read lands
 * where the device copies from, with no host array in between (loading checkpoints).
 */
export interface Uploader {
  /** Fills the first `byteLength` bytes of `t`: `fill(target, offset)` writes bytes [offset, offset + target.length). */
  upload(t: Tensor, byteLength: number, fill: (target: Uint8Array, offset: number) => Promise<void>): Promise<void>;
  /** Waits for the copies, then releases the staging memory; later uploads fail. */
  finish(): Promise<void>;
}

export interface Backend {
  /** For logs and reports; choose paths from `caps`, never from the name. */
  readonly name: 'cpu' | 'webgpu';
  /** What this backend offers: f16 arithmetic, subgroups, subgroup matrices, timestamps, limits. */
  readonly caps: Capabilities;
  /** Whether this backend can run `op` with these attributes and input types; callers fall back when not. */
  supportsOp(op: string, attrs: Attrs, inputs: readonly TensorDesc[]): boolean;
  /** `owner` groups memory in usage reports ("weights", "kv-cache"); backends without accounting ignore it. */
  alloc(desc: TensorDesc, label?: string, owner?: string): Tensor;
  write(t: Tensor, data: HostArray): void;
  /**
   * Writes `data` over elements [offset, offset + data.length) of `t`, leaving the rest as it is
   * (a slot of a stacked parameter). On WebGPU the byte offset and length must be multiples of 4.
   */
  writeAt(t: Tensor, offset: number, data: HostArray): void;
  read(t: Tensor): Promise<HostArray>;
  /**
   * The same storage under another shape of equal element count (row-major, so a reshape is free).
   * Freeing either the view or its source releases the storage.
   */
  view(t: Tensor, shape: readonly number[]): Tensor;
  /**
   * The first bytes of `t`'s storage as a tensor of `desc` (another dtype and fewer elements
   * allowed; it must fit): one allocation sized for the largest shape serves every smaller one.
   * Freeing either releases the storage. Absent where a backend cannot share storage so.
   */
  subview?(t: Tensor, desc: TensorDesc): Tensor;
  /** Enqueues `op`; outputs are written when the work is flushed (CPU: at once). */
  run(op: string, attrs: Attrs, inputs: readonly Tensor[], outputs: readonly Tensor[]): void;
  /** Waits until all enqueued work has finished. */
  flush(): Promise<void>;
  /**
   * Starts the work enqueued so far without waiting for it, so the device runs it while the host
   * does something else. Absent where `run` executes at once (CPU).
   */
  submit?(): void;
  free(t: Tensor): void;
  destroy(): void;
  /**
   * Resolves (never rejects) with the reason once the device behind this backend is lost and
   * every later call fails: a server watches it to reload the model on a new backend. Absent
   * where the device cannot be lost (CPU); it does not resolve after the backend's own `destroy()`.
   */
  readonly lost?: Promise<Error>;
  /**
   * Records the work `body` enqueues into a stream instead of running it; replays then skip the
   * encoding cost. Absent on backends that run work at once (CPU).
   */
  record?(body: () => void): RecordedStream;
  /** A staging uploader for tensors of up to `largestBytes` (it sizes its chunks by them); absent where `write` is a plain memory copy (CPU). */
  createUploader?(largestBytes?: number): Uploader;
  /** A readback of `bytes` for `RecordedStream.replayWith` copies; present where `record` is. */
  createReadback?(bytes: number, label?: string): Readback;
  /** Runs compiler-generated WGSL: `bindings` at @binding(0…n−1) (storage buffers, read or read_write as the shader declares), `uniforms` (u32, 16-byte padded) at @binding(n). */
  runProgram?(
    /** `name` (the tensor program's) labels the dispatch in profiles and errors. */
    program: { wgsl: string; entryPoint: string; workgroups: [number, number, number]; name?: string },
    bindings: readonly Tensor[],
    uniforms: Uint32Array,
  ): void;
  /**
   * Runs a compiler-generated host function in place on tensors that live in host memory (CPU):
   * it gets a typed-array view of each binding (inputs, then the output; f16/bf16 as their 16-bit
   * patterns) and `dims`, and returns when the output is written. Absent where tensors are not
   * host memory (WebGPU, which has `runProgram`).
   */
  runHostProgram?(program: HostProgram, bindings: readonly Tensor[], dims: readonly number[]): void;
}

/** A function over typed-array views of tensors, run by `Backend.runHostProgram`. */
export type HostProgram = (views: readonly HostArray[], dims: readonly number[]) => void;

export class UnsupportedOpError extends Error {
  constructor(backend: string, op: string, why: string) {
    super(`backend '${backend}' cannot run op '${op}': ${why}`);
    this.name = 'UnsupportedOpError';
  }
}

export function shapeString(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

export function assertShape(op: string, what: string, t: TensorDesc, shape: readonly number[], dtype?: DType): void {
  const same = t.shape.length === shape.length && t.shape.every((d, i) => d === shape[i]);
  if (!same) throw new Error(`${op}: ${what} has shape ${shapeString(t.shape)}, expected ${shapeString(shape)}`);
  if (dtype && t.dtype !== dtype) throw new Error(`${op}: ${what} has dtype ${t.dtype}, expected ${dtype}`);
}

/** `b` as a backend that records dispatch streams; throws a clear error when it cannot. */
export function recordingBackend(b: Backend): Backend & Required<Pick<Backend, 'record' | 'createReadback'>> {
  if (!b.record || !b.createReadback)
    throw new UnsupportedOpError(b.name, 'record', 'this backend does not record dispatch streams');
  return b as Backend & Required<Pick<Backend, 'record' | 'createReadback'>>;
}
