/**
 * The WebGPU kernels known to the backend, filled at start-up by the modules that own them (the
 * kernel library, feature modules such as attention) through `src/register-all.ts`. The registry
 * lives here, below its contributors, so the backend never imports the code above it.
 */
import type { GpuKernel } from './kernel.js';

const registered: GpuKernel[] = [];

/**
 * Every registered kernel in registration order; for one op, an earlier kernel is preferred when
 * it supports the inputs. Live: a backend built after a registration sees it.
 */
export const GPU_KERNELS: readonly GpuKernel[] = registered;

/** Adds kernels after those already known; registering the same kernel object twice is a no-op. */
export function registerGpuKernels(kernels: readonly GpuKernel[]): void {
  for (const k of kernels) if (!registered.includes(k)) registered.push(k);
}
