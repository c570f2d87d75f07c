/**
 * The free list of GPU buffers (no device needed: buffers are stand-ins with a size, a usage and a
 * destroy count), the arena's reuse under its budget and the bind-group cache on a device, and the
 * comparison that catches a kept kernel encoding gone stale.
 */
import { describe, expect, it } from 'vitest';
import { FreeBuffers } from '../../src/backends/webgpu/free-buffers.js';
import { BufferArena, sizeClass } from '../../src/backends/webgpu/arena.js';
import { OutOfMemoryError } from '../../src/backends/webgpu/errors.js';
import { type EncodedOp, encodingDifference } from '../../src/backends/webgpu/encode-memo.js';
import type { GpuTensor } from '../../src/backends/webgpu/kernel.js';
import { gpuBackend, gpuSkipReason } from '../gpu-setup.js';

const gpu = await gpuBackend();

interface Fake {
  readonly size: number;
  readonly usage: number;
  destroyed: number;
  destroy(): void;
}
const fake = (size: number, usage = 1): Fake => ({
  size,
  usage,
  destroyed: 0,
  destroy() {
    this.destroyed++;
  },
});
const asGpu = (f: Fake) => f as unknown as GPUBuffer;
const put = (list: FreeBuffers, f: Fake, label = '') => list.put(asGpu(f), { size: f.size, usage: f.usage, label });

describe('FreeBuffers', () => {
  it('hands back freed buffers of the exact size and usage, first freed first', () => {
    const list = new FreeBuffers(1 << 20);
    const [a, b, c] = [fake(256), fake(256), fake(512)];
    for (const f of [a, b, c]) put(list, f);
    expect(list.bytes).toBe(1024);
    expect(list.take(256, 2)).toBeUndefined();
    expect(list.take(128, 1)).toBeUndefined();
    expect(list.take(256, 1)).toBe(a);
    expect(list.take(256, 1)).toBe(b);
    expect(list.take(256, 1)).toBeUndefined();
    expect(list.take(512, 1)).toBe(c);
    expect(list.bytes).toBe(0);
    expect([a, b, c].map((f) => f.destroyed)).toEqual([0, 0, 0]);
  });

  it('prefers the buffer last used under the asked label', () => {
    const list = new FreeBuffers(1 << 20);
    const [a, b, c] = [fake(256), fake(256), fake(256)];
    put(list, a, 'x');
    put(list, b, 'y');
    put(list, c, 'z');
    expect(list.take(256, 1, 'z')).toBe(c);
    expect(list.take(256, 1, 'w')).toBe(a);
    expect(list.take(256, 1, 'y')).toBe(b);
  });

  it('destroys the oldest idle buffers past its cap, and buffers larger than the cap at once', () => {
    const list = new FreeBuffers(1024);
    const olds = [fake(512), fake(256), fake(256)];
    for (const f of olds) put(list, f);
    const next = fake(512);
    put(list, next);
    expect(olds.map((f) => f.destroyed)).toEqual([1, 0, 0]);
    expect(list.bytes).toBe(1024);
    expect(list.take(512, 1)).toBe(next);
    const huge = fake(4096);
    put(list, huge);
    expect(huge.destroyed).toBe(1);
    expect(list.trim(300)).toBe(512);
    expect(list.count).toBe(0);
    expect(olds.map((f) => f.destroyed)).toEqual([1, 1, 1]);
  });
});

describe('sizeClass', () => {
  it('rounds to 256 bytes up to 4 KiB, then to eight classes per power of two, never past the limit', () => {
    expect([1, 256, 257, 4096].map((b) => sizeClass(b))).toEqual([256, 256, 512, 4096]);
    expect([4097, 4608, 4609, 1 << 20, (1 << 20) + 1].map((b) => sizeClass(b))).toEqual([
      4608,
      4608,
      5120,
      1 << 20,
      (1 << 20) + (1 << 17),
    ]);
    for (let b = 1; b < 1 << 22; b = Math.ceil(b * 1.37)) {
      const c = sizeClass(b);
      expect(c).toBeGreaterThanOrEqual(b);
      if (b > 4096) expect(c / b).toBeLessThanOrEqual(1.125);
    }
    expect(sizeClass(4097, 4100)).toBe(4112);
  });
});

describe.skipIf(!gpu)(`BufferArena reuse (WebGPU)${gpu ? '' : ` (skipped: ${gpuSkipReason()})`}`, () => {
  const usage = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST;

  it('serves a freed buffer to the next allocation of its size without creating one', () => {
    const arena = new BufferArena(gpu!.device, Number.MAX_SAFE_INTEGER);
    const a = arena.alloc(1000, 'activations', 'a', usage());
    arena.free(a);
    expect(arena.usage().totalBytes).toBe(0);
    expect(arena.usage().idleBytes).toBe(1024);
    const again = arena.alloc(1000, 'activations', 'a2', usage());
    expect(again).toBe(a);
    expect(arena.created).toBe(1);
    expect(arena.usage().byOwner.get('activations')).toBe(1024);
    // a nearby size of the same class takes the same buffer
    arena.free(again);
    expect(arena.alloc(900, 'activations', 'a3', usage())).toBe(a);
    const other = arena.alloc(2000, 'activations', 'b', usage());
    expect(other).not.toBe(a);
    expect(arena.created).toBe(2);
    arena.free(a);
    arena.free(other);
    arena.trimIdle();
    expect(arena.usage().idleBytes).toBe(0);
  });

  it('releases idle buffers before refusing an allocation over the budget', () => {
    const arena = new BufferArena(gpu!.device, 4096);
    arena.free(arena.alloc(2048, 'activations', 'a', usage()));
    const big = arena.alloc(4096, 'weights', 'w', usage());
    expect(arena.usage().idleBytes).toBe(0);
    expect(arena.usage().totalBytes).toBe(4096);
    expect(() => arena.alloc(16, 'weights', 'x', usage())).toThrow(OutOfMemoryError);
    arena.free(big);
    arena.trimIdle();
  });

  it('frees a buffer once when both a view and its source are freed, though it was reused in between', () => {
    const b = gpu!;
    const src = b.alloc({ dtype: 'f32', shape: [4, 64] }, 'src');
    const view = b.view(src, [256]);
    const live = b.memory().totalBytes;
    b.free(view);
    // the same label: the free list hands this allocation the buffer just freed
    const other = b.alloc({ dtype: 'f32', shape: [256] }, 'src');
    expect((other as GpuTensor).buffer).toBe((src as GpuTensor).buffer);
    b.free(src);
    // `other` still owns its buffer: the next allocation of its size gets another one
    expect(b.memory().totalBytes).toBe(live);
    const third = b.alloc({ dtype: 'f32', shape: [256] }, 'third');
    expect((third as GpuTensor).buffer).not.toBe((other as GpuTensor).buffer);
    b.free(other);
    b.free(third);
  });

  it('reuses the bind group of a repeated dispatch, whatever its uniforms', async () => {
    const b = gpu!;
    const x = b.alloc({ dtype: 'f32', shape: [8] });
    const y = b.alloc({ dtype: 'f32', shape: [8] });
    b.write(x, new Float32Array(8).fill(2));
    const attrs = { expr: 'x0 * 3' };
    b.run('elementwise', attrs, [x], [y]);
    const before = b.bindGroups.created;
    for (let i = 0; i < 5; i++) b.run('elementwise', attrs, [x], [y]);
    expect(b.bindGroups.created).toBe(before);
    expect([...(await b.read(y))]).toEqual(Array(8).fill(6));
    b.free(x);
    b.free(y);
  });
});

describe('encodingDifference', () => {
  const op = (uniforms: number[], workgroups: [number] = [4]): EncodedOp => ({
    scratch: [{ bytes: 64, label: 's' }],
    dispatches: [
      {
        shader: { label: 'k', key: 'k|1', wgsl: '', access: ['read', 'rw', 'uniform'] },
        roles: [
          { k: 'tensor', index: 0, whole: true },
          { k: 'scratch', index: 0 },
        ],
        uniforms: Uint32Array.from(uniforms),
        workgroups,
      },
    ],
  });

  it('is null for equal encodings and names what differs otherwise', () => {
    expect(encodingDifference(op([1, 2]), op([1, 2]))).toBeNull();
    expect(encodingDifference(op([1, 2]), op([1, 3]))).toMatch(/uniforms/);
    expect(encodingDifference(op([1, 2]), op([1, 2], [5]))).toMatch(/workgroups/);
    const moved = op([1, 2]);
    const roles = [{ k: 'tensor', index: 1, whole: true } as const, { k: 'scratch', index: 0 } as const];
    const other: EncodedOp = { ...moved, dispatches: [{ ...moved.dispatches[0]!, roles }] };
    expect(encodingDifference(op([1, 2]), other)).toMatch(/bound buffers/);
  });
});
