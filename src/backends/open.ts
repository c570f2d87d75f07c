/**
 * Picks a backend: WebGPU when an adapter opens and passes a small self-test (a matrix product read
 * back exactly), otherwise the CPU backend — saying so once, with the reason, rather than failing.
 * `prefer` ('cpu' | 'webgpu') or, when that is absent or 'auto', `TESSERA_BACKEND=cpu|webgpu`
 * forces one. `describeBackend` is the one line a command prints about its choice.
 */
import type { Backend } from './backend.js';
import { CpuBackend } from './cpu/cpu-backend.js';

let saidFallback = false;

export type BackendChoice = 'auto' | 'webgpu' | 'cpu';

export interface OpenBackendOptions {
  prefer?: BackendChoice;
  /** Where the one-time fallback notice goes (default: console.warn). */
  log?: (message: string) => void;
  memoryBudget?: number;
  /** Opens the GPU backend (tests inject a failing one to check the fallback). */
  openGpu?: () => Promise<Backend>;
}

/** The choice in force: an explicit 'cpu' or 'webgpu' wins, then TESSERA_BACKEND, then auto. */
export function backendChoice(prefer?: string): BackendChoice {
  if (prefer === 'cpu' || prefer === 'webgpu') return prefer;
  if (prefer !== undefined && prefer !== 'auto')
    throw new Error(`unknown backend '${prefer}': use webgpu, cpu or auto`);
  const env = (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env.TESSERA_BACKEND;
  if (env === undefined || env === '' || env === 'auto') return 'auto';
  if (env === 'cpu' || env === 'webgpu') return env;
  throw new Error(`TESSERA_BACKEND=${env}: use webgpu, cpu or auto`);
}

/**
 * A GPU that opens can still compute wrong (a broken driver): run a 4×8 · 8×4 product of small
 * integers, exact in f32, and compare. Throws with what differed.
 */
export async function selfTest(b: Backend): Promise<void> {
  const a = Float32Array.from({ length: 32 }, (_, i) => (i % 7) - 3);
  const w = Float32Array.from({ length: 32 }, (_, i) => (i % 5) - 2);
  const want = new Float32Array(16);
  for (let m = 0; m < 4; m++)
    for (let n = 0; n < 4; n++) for (let k = 0; k < 8; k++) want[m * 4 + n]! += a[m * 8 + k]! * w[n * 8 + k]!;
  const ta = b.alloc({ dtype: 'f32', shape: [4, 8] }, 'selftest.a');
  const tw = b.alloc({ dtype: 'f32', shape: [4, 8] }, 'selftest.w');
  const tc = b.alloc({ dtype: 'f32', shape: [4, 4] }, 'selftest.c');
  try {
    b.write(ta, a);
    b.write(tw, w);
    b.run('matmul', { transB: true }, [ta, tw], [tc]);
    const got = (await b.read(tc)) as Float32Array;
    const bad = want.findIndex((v, i) => got[i] !== v);
    if (bad >= 0) throw new Error(`self-test matmul element ${bad} is ${got[bad]}, expected ${want[bad]}`);
  } finally {
    for (const t of [ta, tw, tc]) b.free(t);
  }
}

export async function openBackend(opts: OpenBackendOptions = {}): Promise<Backend> {
  const prefer = backendChoice(opts.prefer);
  const log = opts.log ?? ((m: string) => console.warn(m));
  if (prefer === 'cpu') return new CpuBackend();
  const openGpu =
    opts.openGpu ??
    (async () => {
      const { WebGpuBackend } = await import('./webgpu/webgpu-backend.js');
      const gpu = await WebGpuBackend.create({
        memoryBudget: opts.memoryBudget,
        onWarning: (m) => log(`[tessera] ${m}`),
      });
      try {
        await selfTest(gpu);
      } catch (e) {
        gpu.destroy();
        throw e;
      }
      return gpu;
    });
  try {
    const gpu = await openGpu();
    if (prefer === 'auto' && gpu.caps.software) {
      // a software rasteriser runs the same kernels on the CPU through Vulkan emulation: slower than
      // the CPU backend's own kernels, so `auto` takes those and names the way back
      log(
        `[tessera] ${gpu.caps.description || 'the WebGPU adapter'} is a software renderer; running on the CPU backend (--backend webgpu to use it)`,
      );
      gpu.destroy();
      return new CpuBackend();
    }
    return gpu;
  } catch (e) {
    if (prefer === 'webgpu') throw e;
    if (!saidFallback) {
      saidFallback = true;
      log(`[tessera] running on the CPU backend: ${(e as Error).message.replace(/\n\s*/g, ' ')}`);
    }
    return new CpuBackend();
  }
}

/** One line naming the backend in use: the GPU's description, or the CPU backend's threads. */
export function describeBackend(b: Backend): string {
  if (b instanceof CpuBackend) return `cpu (WebAssembly SIMD, ${b.threads} thread${b.threads > 1 ? 's' : ''})`;
  return `${b.name} (${b.caps.description || b.caps.device || b.caps.vendor})`;
}
