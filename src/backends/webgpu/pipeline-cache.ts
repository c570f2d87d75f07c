/**
 * Compute pipelines keyed by their generated WGSL (plus entry point and binding layout): a kernel
 * generator may be called every step, but each distinct shader compiles once. Compilation errors
 * arrive asynchronously and are raised at the next flush as `ShaderCompileError`.
 */
import { ShaderCompileError } from './errors.js';

/** How a kernel's bindings are declared, in order: read-only storage, read-write storage, uniform. */
export type BindingAccess = 'read' | 'rw' | 'uniform';

export interface CompiledKernel {
  readonly pipeline: GPUComputePipeline;
  readonly layout: GPUBindGroupLayout;
  readonly label: string;
}

export class PipelineCache {
  private readonly cache = new Map<string, CompiledKernel>();
  private pending: Promise<ShaderCompileError | null>[] = [];
  compiled = 0;

  constructor(private readonly device: GPUDevice) {}

  get(label: string, wgsl: string, access: readonly BindingAccess[], entryPoint = 'main'): CompiledKernel {
    const key = `${entryPoint}|${access.join(',')}|${wgsl}`;
    const hit = this.cache.get(key);
    if (hit) return hit;
    const layout = this.device.createBindGroupLayout({
      label,
      entries: access.map((a, binding) => ({
        binding,
        visibility: GPUShaderStage.COMPUTE,
        buffer: { type: a === 'read' ? 'read-only-storage' : a === 'rw' ? 'storage' : 'uniform' },
      })),
    });
    this.device.pushErrorScope('validation');
    const module = this.device.createShaderModule({ code: wgsl, label });
    const pipeline = this.device.createComputePipeline({
      label,
      layout: this.device.createPipelineLayout({ bindGroupLayouts: [layout] }),
      compute: { module, entryPoint },
    });
    this.pending.push(
      this.device.popErrorScope().then(async (err) => {
        if (!err) return null;
        const info = await module.getCompilationInfo();
        const lines = wgsl.split('\n');
        // the offending source line makes a generator bug obvious without dumping the shader
        const msgs = info.messages
          .map((m) => `  ${m.type} ${m.lineNum}:${m.linePos} ${m.message}\n    | ${lines[m.lineNum - 1]?.trim() ?? ''}`)
          .join('\n');
        return new ShaderCompileError(label, msgs || err.message);
      }),
    );
    const compiled = { pipeline, layout, label };
    this.cache.set(key, compiled);
    this.compiled++;
    return compiled;
  }

  async checkErrors(): Promise<void> {
    const pending = this.pending;
    this.pending = [];
    const errors = (await Promise.all(pending)).filter((e): e is ShaderCompileError => e !== null);
    if (errors.length) throw errors[0];
  }

  get size(): number {
    return this.cache.size;
  }
}
