/** Typed, actionable GPU errors: each says what happened and what to do about it. */
export class GpuError extends Error {
  constructor(
    message: string,
    readonly hint: string,
  ) {
    super(`${message}\n  → ${hint}`);
    // subclasses spell their names out (minified bundles rename classes)
    this.name = 'GpuError';
  }
}

export class NoAdapterError extends GpuError {
  // spelled out: a minified bundle renames classes, and pages tell errors apart by name
  override name = 'NoAdapterError';
  constructor(
    detail: string,
    hint = 'install a Vulkan driver (on Debian 12: libvulkan1 and mesa-vulkan-drivers from bookworm-backports give the lavapipe CPU driver), or use the CPU backend (--backend cpu)',
  ) {
    super(`no WebGPU adapter is available (${detail})`, hint);
  }
}

export class DeviceLostError extends GpuError {
  override name = 'DeviceLostError';
  constructor(reason: string, message: string) {
    super(
      `the GPU device was lost (${reason}: ${message})`,
      'reopen the device; if it repeats, lower the memory budget or batch size, or update the GPU driver',
    );
  }
}

export class OutOfMemoryError extends GpuError {
  override name = 'OutOfMemoryError';
  constructor(what: string, bytes: number, detail: string) {
    super(
      `out of GPU memory allocating ${formatBytes(bytes)} for '${what}' (${detail})`,
      'lower the memory budget use (smaller batch, shorter context, fewer KV pages) or free tensors first',
    );
  }
}

export class LimitExceededError extends GpuError {
  override name = 'LimitExceededError';
  constructor(what: string, value: number, limit: number, limitName: string) {
    super(
      `${what} needs ${value}, over the device limit ${limitName} = ${limit}`,
      'split the work (smaller tiles or chunks) or run on a device with larger limits',
    );
  }
}

export class MissingFeatureError extends GpuError {
  override name = 'MissingFeatureError';
  constructor(feature: string, who: string) {
    super(
      `'${who}' needs the WebGPU feature '${feature}', which this device does not offer`,
      'use the fallback path (Tessera picks one automatically where it exists) or another device',
    );
  }
}

export class ShaderCompileError extends GpuError {
  override name = 'ShaderCompileError';
  constructor(label: string, messages: string) {
    super(
      `WGSL for '${label}' failed to compile:\n${messages}`,
      'this is a Tessera bug in a kernel generator: please report it with the message above',
    );
  }
}

export function formatBytes(n: number): string {
  if (n >= 2 ** 30) return `${(n / 2 ** 30).toFixed(2)} GiB`;
  if (n >= 2 ** 20) return `${(n / 2 ** 20).toFixed(1)} MiB`;
  if (n >= 2 ** 10) return `${(n / 2 ** 10).toFixed(1)} KiB`;
  return `${n} B`;
}
