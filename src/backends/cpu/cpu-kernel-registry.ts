/**
 * CPU implementations of ops that live above the backends (feature modules: quantized weights,
 * LoRA, sparse and graph ops, the fused attention ops), handed in at start-up by the modules that
 * own them through `src/register-all.ts`, as the WebGPU kernel registry is. The backend never imports
 * those modules; each keeps its CPU kernel beside its op and its WGSL.
 */
import type { Attrs, TensorDesc } from '../backend.js';
import type { OpImpl } from './cpu-op-context.js';

export interface CpuKernel {
  readonly op: string;
  /** Whether it runs these attributes and inputs; absent: every call the op accepts. */
  readonly supports?: (attrs: Attrs, inputs: readonly TensorDesc[]) => boolean;
  /** Computes in f32 over the heap (see `OpContext`) and rounds once to each output's dtype. */
  readonly run: OpImpl;
}

const registered: CpuKernel[] = [];

/** Adds kernels after those already known; registering the same kernel object twice is a no-op. */
export function registerCpuKernels(kernels: readonly CpuKernel[]): void {
  for (const k of kernels) if (!registered.includes(k)) registered.push(k);
}

/** The first registered kernel for `op` that supports the call, or null. */
export function registeredCpuKernel(op: string, attrs: Attrs, inputs: readonly TensorDesc[]): OpImpl | null {
  for (const k of registered) if (k.op === op && (!k.supports || k.supports(attrs, inputs))) return k.run;
  return null;
}
