/**
 * The contract between the WebGPU backend and the kernel library. A kernel is a small object:
 * `supports` says whether it can run these inputs on this device (callers fall back otherwise),
 * `encode` generates WGSL for the exact variant needed and enqueues its dispatches through the
 * context, which caches pipelines by WGSL and records dispatches into streams.
 */
import type { Attrs, Tensor, TensorDesc } from '../backend.js';
import type { Capabilities } from './capabilities.js';
import type { BindingAccess } from './pipeline-cache.js';

/** A tensor on the GPU: one buffer, possibly bound in pieces when over the binding limit. */
export interface GpuTensor extends Tensor {
  readonly buffer: GPUBuffer;
  readonly byteSize: number;
}

export interface ShaderSpec {
  /** Names the variant in errors and profiles, e.g. `matmul.f16.sgmat.64x64`. */
  readonly label: string;
  readonly wgsl: string;
  /** Binding access in order; a trailing `uniform` receives the dispatch's uniform words. */
  readonly access: readonly BindingAccess[];
  readonly entryPoint?: string;
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
