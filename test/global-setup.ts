/**
 * Runs once before all test files: builds the CPU kernels if needed, and probes for a WebGPU
 * adapter so that, when there is none, the
 * suite says so in one line (and GPU tests skip) instead of every worker repeating it.
 */
import { getGpu } from '../src/backends/webgpu/device.js';
import { buildCpuWasm } from '../scripts/build-cpu-wasm.mjs';

export default async function setup(): Promise<void> {
  // the CPU backend's kernels are a build output: build them when absent or older than their sources
  await buildCpuWasm({ ifStale: true });
  const gpu = await getGpu();
  const adapter = gpu ? await gpu.requestAdapter() : null;
  if (!adapter) {
    process.env.TESSERA_NO_GPU = gpu
      ? 'no WebGPU adapter (install a Vulkan driver such as lavapipe: mesa-vulkan-drivers)'
      : 'the webgpu package failed to load';
    console.log(`[tessera] GPU tests skipped: ${process.env.TESSERA_NO_GPU}`);
  }
}
