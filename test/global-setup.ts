/**
 * Runs once before all test files: probes for a WebGPU adapter so that, when there is none, the
 * suite says so in one line (and GPU tests skip) instead of every worker repeating it.
 */
import { getGpu } from '../src/backends/webgpu/device.js';

export default async function setup(): Promise<void> {
  const gpu = await getGpu();
  const adapter = gpu ? await gpu.requestAdapter() : null;
  if (!adapter) {
    process.env.TESSERA_NO_GPU = gpu
      ? 'no WebGPU adapter (install a Vulkan driver such as lavapipe: mesa-vulkan-drivers)'
      : 'the webgpu package failed to load';
    console.log(`[tessera] GPU tests skipped: ${process.env.TESSERA_NO_GPU}`);
  }
}
