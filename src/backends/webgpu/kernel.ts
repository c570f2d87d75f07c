/**
 * The contract between the WebGPU backend and the kernel library. A kernel is a small object:
 * `supports` says whether it can run these inputs on this device (callers fall back otherwise),
 * `encode` names the exact variant needed (a shader key and a WGSL generator) and enqueues its
 * dispatches through the context, which caches pipelines by key and records dispatches into streams.
 */
import type { Attrs, Tensor, TensorDesc } from '../backend.js';
import { paddedByteSize } from '../../tensor/dtype.js';
import type { Capabilities } from './capabilities.js';
import type { BindingAccess } from './pipeline-cache.js';

/** A tensor on the GPU: one buffer, possibly bound in pieces when over the binding limit. */
export interface GpuTensor extends Tensor {
  readonly buffer: GPUBuffer;
  readonly byteSize: number;
}

/** The same buffer under another shape of equal element count (row-major, so a reshape is free). */
export function viewOf(g: GpuTensor, shape: readonly number[]): GpuTensor {
  const n = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
  if (n(shape) !== n(g.shape))
    throw new Error(`view of '${g.label}': [${shape.join(', ')}] has ${n(shape)} elements, the tensor ${n(g.shape)}`);
  return {
    dtype: g.dtype,
    shape: [...shape],
    backend: 'webgpu',
    label: `${g.label}.view`,
    buffer: g.buffer,
    byteSize: g.byteSize,
  };
}

/** The first bytes of `g`'s buffer as a tensor of `desc` (see `Backend.subview`). */
export function prefixOf(g: GpuTensor, desc: TensorDesc): GpuTensor {
  const byteSize = paddedByteSize(desc.dtype, desc.shape);
  if (byteSize > g.byteSize)
    throw new Error(
      `subview of '${g.label}': ${desc.dtype}[${desc.shape.join(', ')}] needs ${byteSize} bytes, it has ${g.byteSize}`,
    );
  return {
    dtype: desc.dtype,
    shape: [...desc.shape],
    backend: 'webgpu',
    label: `${g.label}.sub`,
    buffer: g.buffer,
    byteSize,
  };
}

export interface ShaderSpec {
  /** Names the variant in errors and profiles, e.g. `matmul.f16.sgmat.64x64`. */
  readonly label: string;
  /**
   * Everything the WGSL is generated from (`shaderKey`), so the pipeline cache can find a compiled
   * shader without generating its text; absent: the text itself is the key.
   */
  readonly key?: string;
  /** The WGSL, or its generator (called only when the cache misses on `key`). */
  readonly wgsl: string | (() => string);
  /** Binding access in order; a trailing `uniform` receives the dispatch's uniform words. */
  readonly access: readonly BindingAccess[];
  readonly entryPoint?: string;
}

/**
 * A shader key: the label and the generator's arguments (plans, tuning parameters — not the
 * device's capabilities, which are fixed for a pipeline cache). Two equal keys must yield the same
 * WGSL; tests check that by generating anyway (`PipelineCache.verifyKeys`).
 */
export function shaderKey(label: string, ...parts: readonly unknown[]): string {
  return parts.length ? `${label}|${JSON.stringify(parts)}` : label;
}

export interface BufferRange {
  readonly buffer: GPUBuffer;
  readonly offset?: number;
  readonly size?: number;
}

export interface KernelContext {
  readonly caps: Capabilities;
  readonly device: GPUDevice;
  /**
   * Enqueues one dispatch. `buffers` match the storage entries of `access` in order; `uniforms`
   * (u32 words, any length) fill the trailing uniform binding when the shader declares one.
   * `when`, if given, is asked when the dispatch is encoded and again at every replay of a
   * recorded stream (whose buffers may by then hold other data): false leaves the dispatch out.
   */
  dispatch(
    shader: ShaderSpec,
    buffers: readonly (GpuTensor | BufferRange)[],
    uniforms: Uint32Array | null,
    workgroups: readonly [number, number?, number?],
    when?: () => boolean,
  ): void;
  /** A scratch buffer that lives until the next flush (or as long as the recorded stream). */
  scratch(bytes: number, label: string): BufferRange;
}

export interface GpuKernel {
  readonly op: string;
  /** null when supported, otherwise why not (shown to users when a fallback happens). */
  whyUnsupported(caps: Capabilities, attrs: Attrs, inputs: readonly TensorDesc[]): string | null;
  encode(ctx: KernelContext, attrs: Attrs, inputs: readonly GpuTensor[], outputs: readonly GpuTensor[]): void;
}

/** A `whyUnsupported` from a check that throws what it rejects: the thrown message, or null. */
export function whyNot(check: () => void): string | null {
  try {
    check();
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}
