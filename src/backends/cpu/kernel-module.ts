/**
 * The compiled kernels (wasm/kernels.ts → wasm/kernels.wasm) and the one shared memory every CPU
 * tensor lives in. The module is compiled once per process and instantiated once per thread over
 * the same `WebAssembly.Memory({ shared: true })`, so workers read and write tensors in place.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The kernels' exports; every one takes its row range [r0, r1) last (see wasm/kernels.ts). */
export const KERNEL_NAMES = [
  'convert',
  'gemmNT',
  'gemmNN',
  'siluMul',
  'addInPlace',
  'rmsnorm',
  'layernorm',
  'softmax',
  'rope',
  'pagedAttention',
  'attentionDense',
  'mergeStates',
  'expF32',
  'evenOddX',
  'gemvBf16',
  'gemmPackedNT',
] as const;
export type KernelName = (typeof KERNEL_NAMES)[number];
export type KernelExports = Record<KernelName, (...args: number[]) => void>;

/** 64 KiB pages; wasm32 addresses at most 4 GiB. */
export const WASM_PAGE = 65_536;
export const MAX_PAGES = 65_536;
/** Below this the kernels' own static data (the math library's tables) lives; tensors start here. */
export const HEAP_BASE = 65_536;

let compiled: WebAssembly.Module | null = null;

export function kernelWasmPath(): string {
  return fileURLToPath(new URL('./wasm/kernels.wasm', import.meta.url));
}

/** The compiled kernel module (synchronous: the module is small, and Node allows it). */
export function kernelModule(): WebAssembly.Module {
  if (compiled) return compiled;
  const path = kernelWasmPath();
  if (!existsSync(path))
    throw new Error(`CPU kernels not built: ${path} is missing (run 'npm run build:wasm' or 'npm run build')`);
  compiled = new WebAssembly.Module(readFileSync(path));
  return compiled;
}

export function sharedMemory(initialBytes: number): WebAssembly.Memory {
  const initial = Math.max(2, Math.ceil(initialBytes / WASM_PAGE));
  return new WebAssembly.Memory({ initial, maximum: MAX_PAGES, shared: true });
}

export function instantiate(module: WebAssembly.Module, memory: WebAssembly.Memory): KernelExports {
  const inst = new WebAssembly.Instance(module, {
    env: {
      memory,
      abort: () => {
        throw new Error('CPU kernel aborted');
      },
    },
  });
  return inst.exports as unknown as KernelExports;
}
