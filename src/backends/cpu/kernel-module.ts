/**
 * The compiled kernels (wasm/kernels.ts → wasm/kernels.wasm) and the one shared memory every CPU
 * tensor lives in. The module is compiled once per process and instantiated once per thread over
 * the same `WebAssembly.Memory({ shared: true })`, so workers read and write tensors in place.
 */
import { platform } from '../../platform/current.js';

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
  'ivfScanGroups',
  'ivfMergeSlots',
  'l2Distances',
  'simhashCodes',
  'lshAttention',
  'lshMergeTables',
  'pagedAttentionQuant',
  'kvQuantRows',
  'atomQuantize',
  'atomLaneOrder',
  'atomMatmul',
] as const;
export type KernelName = (typeof KERNEL_NAMES)[number];
export type KernelExports = Record<KernelName, (...args: number[]) => void>;

/** 64 KiB pages; wasm32 addresses at most 4 GiB. */
export const WASM_PAGE = 65_536;
export const MAX_PAGES = 65_536;
/** Below this the kernels' own static data (the math library's tables) lives; tensors start here. */
export const HEAP_BASE = 65_536;

let compiled: WebAssembly.Module | null = null;

/** The kernels' file, beside this module (the browser bundle ships it as wasm/kernels.wasm beside itself). */
export function kernelWasmUrl(): URL {
  return new URL('./wasm/kernels.wasm', import.meta.url);
}

const notBuilt = (url: URL) => `CPU kernels not built: ${url} is missing (run 'npm run build:wasm' or 'npm run build')`;

/**
 * Compiles the kernel module ahead of `kernelModule()`: required in a browser, where a file is
 * fetched and compiled asynchronously; in Node `kernelModule()` reads it synchronously itself.
 */
export async function loadKernelModule(): Promise<WebAssembly.Module> {
  if (compiled) return compiled;
  const url = kernelWasmUrl();
  compiled = await platform.compileWasm(url).catch((e: unknown) => {
    throw new Error(`${notBuilt(url)} (${e instanceof Error ? e.message : String(e)})`);
  });
  return compiled;
}

/** The compiled kernel module (synchronous: the module is small; a browser has it from `loadKernelModule()`). */
export function kernelModule(): WebAssembly.Module {
  if (compiled) return compiled;
  const url = kernelWasmUrl();
  if (platform.name === 'browser') throw new Error(`CPU kernels not loaded: await loadKernelModule() first (${url})`);
  compiled = platform.compileWasmSync(url);
  if (!compiled) throw new Error(notBuilt(url));
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
