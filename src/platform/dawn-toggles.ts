/**
 * Dawn toggles for Node's WebGPU (the `webgpu` package): f16 is blocklisted on NVIDIA for old driver
 * bugs, and subgroup matrices sit behind unsafe APIs. A browser sets its own; benchmarks append to
 * this array before the first device opens.
 */
export const DAWN_TOGGLES = ['enable-dawn-features=allow_unsafe_apis,vulkan_enable_f16_on_nvidia'];
