import { describe, expect, it } from 'vitest';
import { WebGpuBackend } from '../../src/backends/webgpu/webgpu-backend.js';
import { LimitExceededError, OutOfMemoryError, ShaderCompileError } from '../../src/backends/webgpu/errors.js';
import { toFloat64, toHost } from '../../src/tensor/dtype.js';
import type { GpuTensor } from '../../src/backends/webgpu/kernel.js';
import { gpuBackend, gpuSkipReason } from '../gpu-setup.js';

const gpu = await gpuBackend();

describe.skipIf(!gpu)(`WebGPU runtime${gpu ? '' : ` (skipped: ${gpuSkipReason()})`}`, () => {
  const b = gpu!;

  it('replays a recorded dispatch stream with new buffer contents and no new dispatches', async () => {
    const x = b.alloc({ dtype: 'f32', shape: [37] });
    const y = b.alloc({ dtype: 'f32', shape: [37] });
    const stream = b.record(() => b.run('elementwise', { expr: 'x0 * 3 + 1' }, [x], [y]));
    expect(stream.length).toBe(1);
    for (const base of [1, -2.5, 7]) {
      const before = b.dispatchCount;
      b.write(
        x,
        new Float32Array(37).map((_, i) => base + i),
      );
      stream.replay();
      const got = await b.read(y);
      expect(b.dispatchCount).toBe(before);
      expect(got[36]).toBeCloseTo((base + 36) * 3 + 1, 4);
      expect(got[0]).toBeCloseTo(base * 3 + 1, 4);
    }
    stream.destroy();
    expect(() => stream.replay()).toThrow(/destroyed/);
    b.free(x);
    b.free(y);
  });

  it('asks a conditional dispatch at encode time and again at every replay', async () => {
    const wgsl = `@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3<u32>) { if (g.x < 19u) { y[g.x] = x[g.x] * 2.0; } }`;
    const x = b.alloc({ dtype: 'f32', shape: [19] });
    const y = b.alloc({ dtype: 'f32', shape: [19] });
    b.write(
      x,
      new Float32Array(19).map((_, i) => i + 0.5),
    );
    let on = false;
    const run = () =>
      b
        .kernelContext()
        .dispatch({ label: 'test.double', wgsl, access: ['read', 'rw'] }, [x, y] as GpuTensor[], null, [1], () => on);
    const poison = () => b.write(y, new Float32Array(19).fill(-7));
    poison();
    run();
    expect((await b.read(y))[3]).toBe(-7);
    on = true;
    run();
    expect((await b.read(y))[3]).toBe(7);
    // recorded while off: kept, and each replay asks again
    on = false;
    const stream = b.record(run);
    expect(stream.length).toBe(1);
    for (const flag of [true, false, true]) {
      poison();
      on = flag;
      stream.replay();
      expect((await b.read(y))[18]).toBe(flag ? 37 : -7);
    }
    stream.destroy();
    b.free(x);
    b.free(y);
  });

  it('keeps the order of writes and runs that were not flushed', async () => {
    const x = b.alloc({ dtype: 'f32', shape: [5] });
    const y = b.alloc({ dtype: 'f32', shape: [5] });
    const z = b.alloc({ dtype: 'f32', shape: [5] });
    b.write(x, new Float32Array([1, 2, 3, 4, 5]));
    b.run('elementwise', { expr: 'x0 + 0' }, [x], [y]);
    b.write(x, new Float32Array([10, 20, 30, 40, 50]));
    b.run('elementwise', { expr: 'x0 + x1' }, [x, y], [z]);
    expect([...(await b.read(z))]).toEqual([11, 22, 33, 44, 55]);
    for (const t of [x, y, z]) b.free(t);
  });

  it("creates no buffer per unrecorded dispatch, and keeps each one's uniforms across ring wraps", async () => {
    // one pipeline, two sizes: the uniforms (the element count) alternate between 64 and 32
    const [a, ya] = [0, 1].map(() => b.alloc({ dtype: 'f32', shape: [64] }));
    const [c, yc] = [0, 1].map(() => b.alloc({ dtype: 'f32', shape: [32] }));
    b.write(a!, new Float32Array(64));
    b.write(c!, new Float32Array(32));
    const before = b.buffersCreated;
    // 2400 dispatches: more than twice the ring's 1024 slices, so it wraps mid-chain
    for (let i = 0; i < 600; i++) {
      b.run('elementwise', { expr: 'x0 + 1' }, [a!], [ya!]);
      b.run('elementwise', { expr: 'x0 + 1' }, [ya!], [a!]);
      b.run('elementwise', { expr: 'x0 + 1' }, [c!], [yc!]);
      b.run('elementwise', { expr: 'x0 + 1' }, [yc!], [c!]);
    }
    const gotA = await b.read(a!);
    const gotC = await b.read(c!);
    expect([gotA[0], gotA[63], gotC[0], gotC[31]]).toEqual([1200, 1200, 1200, 1200]);
    // the reads' staging buffers are the only ones that may be created (the free list may hold some)
    expect(b.buffersCreated - before).toBeLessThanOrEqual(2);
    expect(b.transientBuffers).toBe(0);
    for (const t of [a, ya, c, yc]) b.free(t!);
  });

  it('refuses to bind one buffer as an input and the writable output of one dispatch', () => {
    const x = b.alloc({ dtype: 'f32', shape: [8] }, 'acts');
    expect(() => b.run('elementwise', { expr: 'x0 + 1' }, [x], [x])).toThrow(
      /'acts' is bound at 0 and 1 with one of them writable/,
    );
    b.free(x);
  });

  it('compiles each distinct shader once', async () => {
    const x = b.alloc({ dtype: 'f16', shape: [3, 9] });
    const y = b.alloc({ dtype: 'f16', shape: [3, 9] });
    b.write(x, toHost('f16', new Float64Array(27).fill(0.5)));
    b.run('elementwise', { expr: 'exp(x0) - 2' }, [x], [y]);
    const compiled = b.pipelines.compiled;
    b.run('elementwise', { expr: 'exp(x0) - 2' }, [x], [y]);
    await b.flush();
    expect(b.pipelines.compiled).toBe(compiled);
    expect(toFloat64('f16', await b.read(y))[26]).toBeCloseTo(Math.exp(0.5) - 2, 2);
    b.free(x);
    b.free(y);
  });

  it('reports WGSL errors as ShaderCompileError at the next flush', async () => {
    b.kernelContext().dispatch(
      { label: 'broken', wgsl: '@compute @workgroup_size(1) fn main() { let x: u32 = 1.5; }', access: [] },
      [],
      null,
      [1],
    );
    await expect(b.flush()).rejects.toBeInstanceOf(ShaderCompileError);
  });

  it('raises WebGPU errors that no scope caught at the next flush, instead of dropping work silently', async () => {
    const raw = b.device.createBuffer({ size: 16, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
    b.device.queue.writeBuffer(raw, 3, new Uint8Array(4)); // misaligned: invalid
    await expect(b.flush()).rejects.toThrow(/WebGPU rejected work \(1 error; first: .*multiple of 4/);
    await b.flush(); // reported once
    raw.destroy();
  });

  it('refuses a dispatch over the workgroup-count limit with a clear error', () => {
    const huge = b.caps.maxComputeWorkgroupsPerDimension + 1;
    expect(() =>
      b
        .kernelContext()
        .dispatch({ label: 'huge', wgsl: '@compute @workgroup_size(1) fn main() {}', access: [] }, [], null, [huge]),
    ).toThrow(LimitExceededError);
  });

  it('views share storage under another shape', async () => {
    const x = b.alloc({ dtype: 'f16', shape: [6, 4] });
    b.write(
      x,
      toHost(
        'f16',
        Array.from({ length: 24 }, (_, i) => i),
      ),
    );
    const v = b.view(x, [2, 3, 4]);
    const y = b.alloc({ dtype: 'f16', shape: [2, 3, 4] });
    b.run('elementwise', { expr: 'x0 * 2' }, [v], [y]);
    expect([...toFloat64('f16', await b.read(y))].slice(20)).toEqual([40, 42, 44, 46]);
    expect(() => b.view(x, [5, 5])).toThrow(/25 elements, the tensor 24/);
    b.free(x);
    b.free(y);
  });

  it('rejects writes of the wrong length', () => {
    const x = b.alloc({ dtype: 'f32', shape: [4] });
    expect(() => b.write(x, new Float32Array(3))).toThrow(/3 elements for a tensor of 4/);
    b.free(x);
  });

  const timestamps = gpu?.caps.timestampQuery ?? false;
  it.skipIf(!timestamps)(
    `profiles dispatches with GPU timestamps${timestamps ? '' : ' (skipped: the device has no timestamp-query)'}`,
    async () => {
      expect(b.startProfiling()).toBe(true);
      const x = b.alloc({ dtype: 'f32', shape: [1000] });
      const y = b.alloc({ dtype: 'f32', shape: [1000] });
      b.run('elementwise', { expr: 'x0 * x0' }, [x], [y]);
      b.run('elementwise', { expr: 'x0 + 1' }, [y], [x]);
      const entries = await b.stopProfiling();
      expect(entries.map((e) => e.label)).toEqual(['elementwise.f32.r1', 'elementwise.f32.r1']);
      for (const e of entries) expect(e.ms).toBeGreaterThanOrEqual(0);
      b.free(x);
      b.free(y);
    },
  );
});

describe.skipIf(!gpu)(`buffer arena${gpu ? '' : ` (skipped: ${gpuSkipReason()})`}`, () => {
  it('enforces the memory budget and says who holds memory', async () => {
    const small = new WebGpuBackend(gpu!.ctx, { memoryBudget: 4096 });
    const a = small.alloc({ dtype: 'f32', shape: [512] }, 'kv', 'kv-cache');
    expect(small.memory().byOwner.get('kv-cache')).toBe(2048);
    expect(() => small.alloc({ dtype: 'f32', shape: [1024] }, 'weights', 'weights')).toThrow(OutOfMemoryError);
    expect(() => small.alloc({ dtype: 'f32', shape: [1024] }, 'weights', 'weights')).toThrow(/kv-cache 2\.0 KiB/);
    small.free(a);
    expect(small.memory().totalBytes).toBe(0);
    expect(small.memory().peakBytes).toBe(2048);
    const b2 = small.alloc({ dtype: 'f32', shape: [1024] }, 'weights', 'weights');
    small.free(b2);
  });
});

describe.skipIf(!gpu)(`uniform ring wraps${gpu ? '' : ` (skipped: ${gpuSkipReason()})`}`, () => {
  it('keep the scratch buffers of the dispatch being encoded alive (packed f16 matmul with odd N goes through scratch)', async () => {
    // two slices: nearly every dispatch wraps the ring, including between a kernel's scratch and its
    // dispatch; without f16 arithmetic, f16 is stored packed two to a word, so odd N needs scratch
    const b = await WebGpuBackend.create({ uniformRingBytes: 512, disableF16: true });
    try {
      const [M, K, N] = [5, 8, 7];
      const av = Float64Array.from({ length: M * K }, (_, i) => ((i * 37) % 11) / 8 - 0.5);
      const bv = Float64Array.from({ length: K * N }, (_, i) => ((i * 53) % 13) / 8 - 0.75);
      const a = b.alloc({ dtype: 'f16', shape: [M, K] });
      const w = b.alloc({ dtype: 'f16', shape: [K, N] });
      b.write(a, toHost('f16', av));
      b.write(w, toHost('f16', bv));
      const outs = Array.from({ length: 6 }, () => b.alloc({ dtype: 'f16', shape: [M, N] }));
      for (const c of outs) b.run('matmul', { outDtype: 'f16' }, [a, w], [c]);
      const want = new Float64Array(M * N);
      for (let i = 0; i < M; i++)
        for (let j = 0; j < N; j++) for (let k = 0; k < K; k++) want[i * N + j]! += av[i * K + k]! * bv[k * N + j]!;
      for (const c of outs) {
        const got = toFloat64('f16', await b.read(c));
        got.forEach((g, i) => expect(Math.abs(g - want[i]!)).toBeLessThan(2e-3 * (1 + Math.abs(want[i]!))));
      }
    } finally {
      b.destroy();
    }
  });
});
