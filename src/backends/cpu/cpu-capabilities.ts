/**
 * The CPU backend's capability record: none of the GPU features, and device limits of a typical
 * desktop GPU (the WebGPU defaults, but 32 KiB of workgroup storage), so that plans sized from
 * limits, such as attention tiles, come out as they would on such a device and the CPU oracle
 * checks those same plans. The CPU backend itself is bound by none of them.
 */
import type { Capabilities } from '../capabilities.js';

export const CPU_CAPABILITIES: Capabilities = {
  vendor: 'cpu',
  architecture: '',
  device: 'cpu',
  description: 'CPU backend (WebAssembly SIMD kernels)',
  f16: false,
  subgroups: false,
  subgroupMinSize: 0,
  subgroupMaxSize: 0,
  subgroupMatrix: [],
  timestampQuery: false,
  software: false,
  maxStorageBufferBindingSize: 134_217_728,
  maxBufferSize: 268_435_456,
  maxComputeWorkgroupStorageSize: 32_768,
  maxComputeInvocationsPerWorkgroup: 256,
  maxComputeWorkgroupSizeX: 256,
  maxComputeWorkgroupsPerDimension: 65_535,
  maxStorageBuffersPerShaderStage: 8,
  disabled: [],
};
