/**
 * WebGPU backends for tests, one per worker, or null with one clear line when no adapter exists
 * (GPU tests then skip; CI installs lavapipe so they run there). `gpuBackends()` also gives a
 * second backend with f16 turned off, so every kernel's packed-f32 fallback is tested too.
 * Suites built by looping over the backends use `gpusOrSkip`, so that with no device they hold a
 * visibly skipped test instead of nothing (vitest fails an empty suite, and a silent absence is
 * not counted as a skip).
 */
import { it } from 'vitest';
import { WebGpuBackend } from '../src/backends/webgpu/webgpu-backend.js';

let backend: Promise<WebGpuBackend | null> | null = null;
let fallback: Promise<WebGpuBackend | null> | null = null;
let failure: string | null = null;

function open(disableF16: boolean): Promise<WebGpuBackend | null> {
  if (process.env.TESSERA_NO_GPU) return Promise.resolve(null); // said once by test/global-setup.ts
  return WebGpuBackend.create({
    disableF16,
    onWarning: (m) => {
      if (!disableF16) console.warn(`[tessera] ${m}`);
    },
  })
    .then((b) => {
      // a shader key that misses a parameter of its generator shows as an error here, not as a stale shader in use
      b.pipelines.verifyKeys = true;
      // likewise a kept kernel encoding that a fresh encode would no longer produce
      b.encodeMemo.verify = true;
      return b;
    })
    .catch((e: Error) => {
      if (failure === null) {
        failure = e.message.split('\n')[0]!;
        console.warn(`[tessera] GPU tests skipped: ${failure}`);
      }
      return null;
    });
}

/** Why the GPU tests of this worker skip, for skipped tests' titles. */
export function gpuSkipReason(): string {
  const env = process.env.TESSERA_NO_GPU;
  if (env) return env === '1' ? 'TESSERA_NO_GPU is set' : env;
  return failure ?? 'no WebGPU adapter';
}

/**
 * The rows unchanged; when there are none, registers one skipped test in the current suite whose
 * title says why. Call it inside the `describe` whose tests the rows generate.
 */
export function gpusOrSkip<T>(rows: readonly T[], what = 'on WebGPU'): readonly T[] {
  if (rows.length === 0) it.skip(`${what} (skipped: ${gpuSkipReason()})`, () => {});
  return rows;
}

export function gpuBackend(): Promise<WebGpuBackend | null> {
  backend ??= open(false);
  return backend;
}

/** The device as opened, plus (when it has f16) the same device type with f16 turned off. */
export async function gpuBackends(): Promise<{ name: string; backend: WebGpuBackend }[]> {
  const main = await gpuBackend();
  if (!main) return [];
  const out = [{ name: main.caps.f16 ? 'webgpu-f16' : 'webgpu', backend: main }];
  if (main.caps.f16) {
    fallback ??= open(true);
    const fb = await fallback;
    if (fb) out.push({ name: 'webgpu-nof16', backend: fb });
  }
  return out;
}
