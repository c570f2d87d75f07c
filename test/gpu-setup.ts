/**
 * WebGPU backends for tests, one per worker, or null with one clear line when no adapter exists
 * (GPU tests then skip; CI installs lavapipe so they run there). `gpuBackends()` also gives a
 * second backend with f16 turned off, so every kernel's packed-f32 fallback is tested too.
 */
import { WebGpuBackend } from '../src/backends/webgpu/webgpu-backend.js';

let backend: Promise<WebGpuBackend | null> | null = null;
let fallback: Promise<WebGpuBackend | null> | null = null;
let said = false;

function open(disableF16: boolean): Promise<WebGpuBackend | null> {
  if (process.env.TESSERA_NO_GPU) return Promise.resolve(null); // said once by test/global-setup.ts
  return WebGpuBackend.create({ disableF16, onWarning: (m) => { if (!disableF16) console.warn(`[tessera] ${m}`); } }).catch((e: Error) => {
    if (!said) {
      said = true;
      console.warn(`[tessera] GPU tests skipped: ${e.message.split('\n')[0]}`);
    }
    return null;
  });
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
