/**
 * Bind-group entries of one dispatch, checked where WebGPU would otherwise reject the pass and
 * silently drop the work (Dawn reports such errors only at the next submit), so the caller hears
 * which kernel and which binding.
 */
import type { BufferRange, GpuTensor, ShaderSpec } from './kernel.js';
import { LimitExceededError } from './errors.js';
import type { BindingAccess } from './pipeline-cache.js';

/** x, y, z with the defaults filled in, each within the device's per-dimension limit. */
export function workgroupCounts(
  label: string,
  workgroups: readonly [number, number?, number?],
  maxPerDimension: number,
): [number, number, number] {
  const [x, y = 1, z = 1] = workgroups;
  for (const w of [x, y, z])
    if (w > maxPerDimension)
      throw new LimitExceededError(`dispatch of '${label}'`, w, maxPerDimension, 'maxComputeWorkgroupsPerDimension');
  return [x, y, z];
}

/**
 * The entry of a storage binding. WebGPU forbids a buffer bound writable and bound again in one
 * dispatch (whole-buffer usage scopes); `seen` maps the buffers bound so far to their binding.
 */
export function storageEntry(
  shader: ShaderSpec,
  binding: number,
  b: GpuTensor | BufferRange,
  seen: Map<GPUBuffer, number>,
  maxBindingSize: number,
): GPUBindGroupEntry {
  const a = shader.access[binding];
  const range = 'byteSize' in b ? { buffer: b.buffer } : { buffer: b.buffer, offset: b.offset, size: b.size };
  const earlier = seen.get(b.buffer);
  if (earlier !== undefined && (a === 'rw' || shader.access[earlier] === 'rw')) {
    const name = 'label' in b ? `'${b.label}'` : 'a buffer';
    throw new Error(
      `kernel '${shader.label}': ${name} is bound at ${earlier} and ${binding} with one of them writable; WebGPU cannot alias a writable binding — give the op a separate output tensor`,
    );
  }
  seen.set(b.buffer, binding);
  const size = range.size ?? range.buffer.size - (range.offset ?? 0);
  if (size > maxBindingSize) {
    throw new LimitExceededError(
      `binding ${binding} of '${shader.label}' (${size} bytes)`,
      size,
      maxBindingSize,
      'maxStorageBufferBindingSize',
    );
  }
  return { binding, resource: range };
}

/** A uniform buffer of its own holding `words` (a recorded stream keeps its uniforms for every replay). */
export function ownedUniform(device: GPUDevice, words: Uint32Array): GPUBuffer {
  const size = Math.max(16, Math.ceil(words.byteLength / 16) * 16);
  const ub = device.createBuffer({ size, usage: GPUBufferUsage.UNIFORM, mappedAtCreation: true });
  new Uint32Array(ub.getMappedRange()).set(words);
  ub.unmap();
  return ub;
}

/**
 * Access per binding as a generated program's WGSL declares it, then its uniform: read-only inputs
 * may then alias (views of one buffer).
 */
export function declaredAccess(wgsl: string, storageBindings: number): BindingAccess[] {
  const declared = new Map(
    [...wgsl.matchAll(/@binding\((\d+)\)\s*var<storage,\s*(read_write|read)>/g)].map((m) => [Number(m[1]), m[2]]),
  );
  return [
    ...Array.from({ length: storageBindings }, (_, i) =>
      declared.get(i) === 'read' ? ('read' as const) : ('rw' as const),
    ),
    'uniform' as const,
  ];
}
