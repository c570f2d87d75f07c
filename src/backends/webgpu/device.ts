/**
 * Opens a WebGPU device behind one interface, in Node (Dawn through the `webgpu` package) or in a
 * browser (`navigator.gpu`), asks for every feature Tessera can use and the adapter's maximum
 * limits, then runs the self-test that decides whether f16 and subgroup matrices are trusted.
 */
import { platform } from '../../platform/current.js';
import { type Capabilities, type SubgroupMatrixConfig } from './capabilities.js';
import { DeviceLostError, NoAdapterError } from './errors.js';
import { runSelfTest } from './self-test.js';

export { DAWN_TOGGLES } from '../../platform/dawn-toggles.js';

const WANTED_FEATURES = [
  'shader-f16',
  'subgroups',
  'chromium-experimental-subgroup-matrix',
  'timestamp-query',
] as const;

const WANTED_LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
  'maxBindGroups',
  'maxUniformBufferBindingSize',
] as const;

export interface GpuContext {
  readonly device: GPUDevice;
  readonly adapter: GPUAdapter;
  caps: Capabilities;
  /** Set once the device is lost; every later use throws it. */
  lost: DeviceLostError | null;
}

export interface OpenOptions {
  /** Skip the f16/subgroup-matrix self-test (tests of the self-test itself use this). */
  skipSelfTest?: boolean;
  /** Act as if the device had no f16 (nor f16 subgroup matrices): exercises every kernel's packed-f32 fallback. */
  disableF16?: boolean;
  powerPreference?: GPUPowerPreference;
  /** Called once with each warning worth a user's attention (features disabled by the self-test). */
  onWarning?: (message: string) => void;
  /**
   * Limits to request below the adapter's, so the device enforces them: tests run as a smaller
   * device would (a browser's SwiftShader adapter allows 10 storage buffers per shader stage).
   */
  limits?: { readonly maxStorageBuffersPerShaderStage?: number };
}

/** The platform's WebGPU entry point: `navigator.gpu` in a browser, Dawn's `create()` in Node (null when unavailable). */
export function getGpu(): Promise<GPU | null> {
  return platform.gpu();
}

function adapterMatrixConfigs(adapter: GPUAdapter): SubgroupMatrixConfig[] {
  const info = adapter.info as GPUAdapterInfo & { subgroupMatrixConfigs?: readonly SubgroupMatrixConfig[] };
  return (info.subgroupMatrixConfigs ?? []).map((c) => ({
    componentType: c.componentType,
    resultComponentType: c.resultComponentType,
    M: c.M,
    N: c.N,
    K: c.K,
  }));
}

/** Opens the device or throws `NoAdapterError` with the fix. */
export async function openGpu(opts: OpenOptions = {}): Promise<GpuContext> {
  const gpu = await getGpu();
  if (!gpu) {
    throw new NoAdapterError(
      platform.name === 'node'
        ? 'WebGPU is not available in this runtime (the webgpu package failed to load)'
        : 'this browser has no WebGPU (navigator.gpu is missing): use a recent Chrome or Edge, or Safari 26, or the CPU backend',
    );
  }
  const adapter = await gpu.requestAdapter({ powerPreference: opts.powerPreference ?? 'high-performance' });
  if (!adapter)
    throw platform.name === 'node'
      ? new NoAdapterError('requestAdapter() returned null: no Vulkan/Metal/D3D12 driver found')
      : new NoAdapterError(
          'requestAdapter() returned null: the browser offers no GPU adapter (WebGPU turned off, or this GPU or driver blocklisted)',
          "chrome://gpu (or the browser's equivalent) says which; meanwhile use the CPU backend (backend 'cpu')",
        );
  const features = WANTED_FEATURES.filter((f) => adapter.features.has(f)) as GPUFeatureName[];
  const requiredLimits: Record<string, number> = {};
  for (const name of WANTED_LIMITS) {
    const v = (adapter.limits as unknown as Record<string, number>)[name];
    if (typeof v === 'number') requiredLimits[name] = v;
  }
  for (const [name, v] of Object.entries(opts.limits ?? {}))
    if (typeof v === 'number') requiredLimits[name] = Math.min(v, requiredLimits[name] ?? v);
  const device = await adapter.requestDevice({ requiredFeatures: features, requiredLimits });
  const info = adapter.info;
  const limits = device.limits;
  const has = (f: string) => device.features.has(f);
  const baseCaps: Capabilities = {
    vendor: info.vendor,
    architecture: info.architecture,
    device: info.device,
    description: info.description,
    f16: has('shader-f16'),
    subgroups: has('subgroups'),
    subgroupMinSize: (info as { subgroupMinSize?: number }).subgroupMinSize ?? 0,
    subgroupMaxSize: (info as { subgroupMaxSize?: number }).subgroupMaxSize ?? 0,
    subgroupMatrix: has('chromium-experimental-subgroup-matrix') ? adapterMatrixConfigs(adapter) : [],
    timestampQuery: has('timestamp-query'),
    software: (info as { isFallbackAdapter?: boolean }).isFallbackAdapter === true || info.architecture === 'software',
    maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
    maxBufferSize: limits.maxBufferSize,
    maxComputeWorkgroupStorageSize: limits.maxComputeWorkgroupStorageSize,
    maxComputeInvocationsPerWorkgroup: limits.maxComputeInvocationsPerWorkgroup,
    maxComputeWorkgroupSizeX: limits.maxComputeWorkgroupSizeX,
    maxComputeWorkgroupsPerDimension: limits.maxComputeWorkgroupsPerDimension,
    maxStorageBuffersPerShaderStage: limits.maxStorageBuffersPerShaderStage,
    disabled: [],
  };
  const ctx: GpuContext = { device, adapter, caps: baseCaps, lost: null };
  void device.lost.then((l) => {
    if (l.reason !== 'destroyed') ctx.lost = new DeviceLostError(l.reason, l.message);
  });
  if (!opts.skipSelfTest) {
    const verdict = await runSelfTest(device, baseCaps);
    ctx.caps = verdict.caps;
    for (const line of verdict.caps.disabled) opts.onWarning?.(line);
  }
  if (opts.disableF16) {
    ctx.caps = {
      ...ctx.caps,
      f16: false,
      subgroupMatrix: ctx.caps.subgroupMatrix.filter((c) => c.componentType !== 'f16'),
      disabled: [...ctx.caps.disabled, 'f16 disabled by request'],
    };
  }
  return ctx;
}

export function describeCaps(caps: Capabilities): string {
  const lines = [
    `adapter: ${caps.description || caps.device || '(unnamed)'} (vendor ${caps.vendor || '?'}, architecture ${caps.architecture || '?'})`,
    `f16: ${caps.f16 ? 'yes' : 'no'}; subgroups: ${caps.subgroups ? `yes (${caps.subgroupMinSize}–${caps.subgroupMaxSize})` : 'no'}; timestamp-query: ${caps.timestampQuery ? 'yes' : 'no'}`,
    `subgroup matrices: ${caps.subgroupMatrix.length ? caps.subgroupMatrix.map((c) => `${c.componentType}→${c.resultComponentType} ${c.M}x${c.N}x${c.K}`).join(', ') : 'none'}`,
    `limits: storage binding ${caps.maxStorageBufferBindingSize}, buffer ${caps.maxBufferSize}, workgroup storage ${caps.maxComputeWorkgroupStorageSize}, invocations ${caps.maxComputeInvocationsPerWorkgroup}`,
  ];
  for (const d of caps.disabled) lines.push(`disabled: ${d}`);
  return lines.join('\n');
}
