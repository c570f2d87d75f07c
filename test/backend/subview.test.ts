/**
 * `Backend.subview` on every backend: the first bytes of a tensor's storage under another shape
 * and dtype. A write through the subview lands in the source's prefix and leaves the rest alone;
 * a dtype change reinterprets the bytes; a subview larger than its source is refused; on WebGPU a
 * subview shares its source's allocation record, so freeing both frees the buffer once, and a
 * kernel writing a subview leaves the source's bytes past it untouched.
 */
import { describe, expect, it } from 'vitest';
import type { Backend } from '../../src/backends/backend.js';
import { CpuBackend } from '../../src/backends/cpu/cpu-backend.js';
import type { GpuTensor } from '../../src/backends/webgpu/kernel.js';
import { gpuBackend, gpuSkipReason, gpusOrSkip } from '../gpu-setup.js';

const gpu = await gpuBackend();
const backends: [string, Backend][] = [
  ['cpu', new CpuBackend()],
  ...gpusOrSkip(gpu ? [['webgpu', gpu] as [string, Backend]] : []),
];

describe('subview', () => {
  for (const [name, b] of backends) {
    it(`${name}: a prefix of the storage under another shape and dtype`, async () => {
      const src = b.alloc({ dtype: 'f32', shape: [4, 8] }, 'src');
      b.write(
        src,
        Float32Array.from({ length: 32 }, (_, i) => i),
      );
      const head = b.subview!(src, { dtype: 'f32', shape: [2, 8] });
      expect(Array.from(await b.read(head))).toEqual(Array.from({ length: 16 }, (_, i) => i));
      b.write(head, new Float32Array(16).fill(-1));
      const all = Array.from(await b.read(src));
      expect(all.slice(0, 16)).toEqual(new Array(16).fill(-1));
      expect(all.slice(16)).toEqual(Array.from({ length: 16 }, (_, i) => 16 + i));
      // the same bytes as i32: 1.5 is 0x3fc00000
      b.write(src, new Float32Array(32).fill(1.5));
      const bits = b.subview!(src, { dtype: 'i32', shape: [3] });
      expect(Array.from(await b.read(bits))).toEqual([0x3fc00000, 0x3fc00000, 0x3fc00000]);
      // a kernel writing the subview writes its prefix only
      const ones = b.alloc({ dtype: 'f32', shape: [2, 8] }, 'ones');
      b.write(ones, new Float32Array(16).fill(1));
      b.run('elementwise', { expr: 'x0 * 4' }, [ones], [head]);
      const after = Array.from(await b.read(src));
      expect(after.slice(0, 16)).toEqual(new Array(16).fill(4));
      expect(after.slice(16)).toEqual(new Array(16).fill(1.5));
      expect(() => b.subview!(src, { dtype: 'f32', shape: [33] })).toThrow(/needs 132 bytes/);
      b.free(ones);
      b.free(src);
    });
  }

  it.skipIf(!gpu)(
    `webgpu: freeing a subview and its source frees the buffer once${gpu ? '' : ` (skipped: ${gpuSkipReason()})`}`,
    () => {
      const b = gpu!;
      const src = b.alloc({ dtype: 'f32', shape: [4, 64] }, 'src');
      const sub = b.subview(src, { dtype: 'f16', shape: [100] });
      const live = b.memory().totalBytes;
      b.free(sub);
      // the same label: the free list hands this allocation the buffer just freed
      const other = b.alloc({ dtype: 'f32', shape: [256] }, 'src');
      expect((other as GpuTensor).buffer).toBe((src as GpuTensor).buffer);
      b.free(src);
      expect(b.memory().totalBytes, 'other keeps its buffer').toBe(live);
      b.free(other);
    },
  );
});
