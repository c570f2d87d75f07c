/**
 * Picks a backend: WebGPU when an adapter exists, otherwise the CPU backend — saying so once,
 * with the fix, rather than failing. `TESSERA_BACKEND=cpu|webgpu` or `prefer` forces one.
 */
import type { Backend } from './backend.js';
import { CpuBackend } from './cpu/cpu-backend.js';

let saidFallback = false;

export interface OpenBackendOptions {
  prefer?: 'auto' | 'webgpu' | 'cpu';
  /** Where the one-time fallback notice goes (default: console.warn). */
  log?: (message: string) => void;
  memoryBudget?: number;
  /** Opens the GPU backend (tests inject a failing one to check the fallback). */
  openGpu?: () => Promise<Backend>;
}

export async function openBackend(opts: OpenBackendOptions = {}): Promise<Backend> {
  const env = (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env.TESSERA_BACKEND;
  const prefer = opts.prefer ?? (env === 'cpu' || env === 'webgpu' ? env : 'auto');
  const log = opts.log ?? ((m: string) => console.warn(m));
  if (prefer === 'cpu') return new CpuBackend();
  const openGpu =
    opts.openGpu ??
    (async () => {
      const { WebGpuBackend } = await import('./webgpu/webgpu-backend.js');
      return WebGpuBackend.create({ memoryBudget: opts.memoryBudget, onWarning: (m) => log(`[tessera] ${m}`) });
    });
  try {
    return await openGpu();
  } catch (e) {
    if (prefer === 'webgpu') throw e;
    if (!saidFallback) {
      saidFallback = true;
      log(`[tessera] running on the CPU backend: ${(e as Error).message.replace(/\n\s*/g, ' ')}`);
    }
    return new CpuBackend();
  }
}
