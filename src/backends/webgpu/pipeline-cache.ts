/**
 * Compute pipelines, each distinct shader compiled once. A kernel encodes every step, so the cache
 * is looked up per dispatch and must cost far less than generating WGSL: a spec with a `key` (the
 * parameters its WGSL is generated from) is found by that short key and its generator runs only on
 * a miss; a spec without one is found by its WGSL text. On a key miss the generated text is looked
 * up too, so two keys that yield the same WGSL share one pipeline. `verifyKeys` (tests turn it on)
 * generates the WGSL on every hit and throws when a key that compiled one shader now yields
 * another: a key that leaves out a parameter of the generator would otherwise run a stale shader.
 * Compilation errors arrive asynchronously and are raised at the next flush as `ShaderCompileError`.
 */
import { ShaderCompileError } from './errors.js';

/** How a kernel's bindings are declared, in order: read-only storage, read-write storage, uniform. */
export type BindingAccess = 'read' | 'rw' | 'uniform';

export interface CompiledKernel {
  readonly pipeline: GPUComputePipeline;
  readonly layout: GPUBindGroupLayout;
  readonly label: string;
}

/** What the cache needs of a kernel's `ShaderSpec`. */
export interface PipelineRequest {
  readonly label: string;
  /** Determines the WGSL, entry point and bindings; absent: the WGSL text is the key. */
  readonly key?: string;
  readonly wgsl: string | (() => string);
  readonly access: readonly BindingAccess[];
  readonly entryPoint?: string;
}

interface Entry {
  readonly compiled: CompiledKernel;
  readonly wgsl: string;
  readonly entryPoint: string;
  readonly access: readonly BindingAccess[];
  /** The same shader with a plain (not dynamic-offset) uniform binding, made on first ask. */
  staticUniforms?: CompiledKernel;
}

/** Thrown (with `verifyKeys` on) when one shader key yields two different shaders. */
export class ShaderKeyCollisionError extends Error {
  constructor(label: string, key: string, what: string) {
    super(
      `shader key '${key}' of '${label}' names two shaders (${what} differ): the key misses a parameter of the generator`,
    );
    this.name = 'ShaderKeyCollisionError';
  }
}

function sameAccess(a: readonly BindingAccess[], b: readonly BindingAccess[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export class PipelineCache {
  /** By `key`; several keys may share an entry. */
  private readonly byKey = new Map<string, Entry>();
  /** By entry point, binding access and WGSL text. */
  private readonly byText = new Map<string, Entry>();
  private pending: Promise<ShaderCompileError | null>[] = [];
  /** Pipelines created (one per distinct shader). */
  compiled = 0;
  /** WGSL texts generated from lazy specs (misses, and every hit while `verifyKeys` is on). */
  generated = 0;
  /** Generate the WGSL of every keyed hit and compare it with the cached one (a debug check; tests turn it on). */
  verifyKeys = false;

  constructor(private readonly device: GPUDevice) {}

  get(spec: PipelineRequest): CompiledKernel {
    return this.entry(spec).compiled;
  }

  /**
   * The kernel with its uniform bound at a fixed offset instead of a dynamic one: for dispatches
   * that own their uniform buffer (recorded streams), where the backend is asked to (A/B runs of
   * the two layouts; `WebGpuBackendOptions.recordedUniforms`).
   */
  getStaticUniforms(spec: PipelineRequest): CompiledKernel {
    const e = this.entry(spec);
    e.staticUniforms ??= this.compile(spec.label, e.wgsl, e.access, e.entryPoint, false);
    return e.staticUniforms;
  }

  private entry(spec: PipelineRequest): Entry {
    const entryPoint = spec.entryPoint ?? 'main';
    if (spec.key === undefined) return this.byWgsl(spec.label, this.text(spec), spec.access, entryPoint);
    const hit = this.byKey.get(spec.key);
    if (hit) {
      // layout mismatches are cheap to see and would otherwise surface as a validation error at submit
      if (hit.entryPoint !== entryPoint) throw new ShaderKeyCollisionError(spec.label, spec.key, 'entry points');
      if (!sameAccess(hit.access, spec.access))
        throw new ShaderKeyCollisionError(spec.label, spec.key, 'binding accesses');
      if (this.verifyKeys && hit.wgsl !== this.text(spec))
        throw new ShaderKeyCollisionError(spec.label, spec.key, 'WGSL texts');
      return hit;
    }
    const entry = this.byWgsl(spec.label, this.text(spec), spec.access, entryPoint);
    this.byKey.set(spec.key, entry);
    return entry;
  }

  private text(spec: PipelineRequest): string {
    if (typeof spec.wgsl === 'string') return spec.wgsl;
    this.generated++;
    return spec.wgsl();
  }

  private byWgsl(label: string, wgsl: string, access: readonly BindingAccess[], entryPoint: string): Entry {
    const textKey = `${entryPoint}|${access.join(',')}|${wgsl}`;
    const hit = this.byText.get(textKey);
    if (hit) return hit;
    const entry = { compiled: this.compile(label, wgsl, access, entryPoint), wgsl, entryPoint, access: [...access] };
    this.byText.set(textKey, entry);
    return entry;
  }

  private compile(
    label: string,
    wgsl: string,
    access: readonly BindingAccess[],
    entryPoint: string,
    dynamicUniforms = true,
  ): CompiledKernel {
    const layout = this.device.createBindGroupLayout({
      label,
      entries: access.map((a, binding) => ({
        binding,
        visibility: GPUShaderStage.COMPUTE,
        // uniforms come from a ring at a per-dispatch offset: dynamic, so the bind group stays the same
        buffer:
          a === 'uniform'
            ? { type: 'uniform', hasDynamicOffset: dynamicUniforms }
            : { type: a === 'read' ? 'read-only-storage' : 'storage' },
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
    this.compiled++;
    return { pipeline, layout, label };
  }

  async checkErrors(): Promise<void> {
    const pending = this.pending;
    this.pending = [];
    const errors = (await Promise.all(pending)).filter((e): e is ShaderCompileError => e !== null);
    if (errors.length) throw errors[0];
  }

  /** Distinct pipelines held. */
  get size(): number {
    return this.byText.size;
  }
}
