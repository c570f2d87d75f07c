/** The hashed inputs of the overlap probe (bench/hash-fill.ts): the GPU's values are the host function's, exactly. */
import { describe, expect, it } from 'vitest';
import { HashFill, hashF32, hashF32Range, hashU32 } from '../../bench/hash-fill.js';
import { seedNote, testSeed } from '../../src/testing/seed.js';
import { Rng } from '../../src/util/rng.js';
import { gpuBackend, gpuSkipReason } from '../gpu-setup.js';

const gpu = await gpuBackend();
const seed = testSeed();

describe(`hash-fill on the host (${seedNote(seed)})`, () => {
  it('lowbias32 equals a BigInt rendering of its steps and is one-to-one on a sample', () => {
    const ref = (x: number) => {
      let h = BigInt(x);
      const m = 0xffffffffn;
      h ^= h >> 16n;
      h = (h * 0x7feb352dn) & m;
      h ^= h >> 15n;
      h = (h * 0x846ca68bn) & m;
      h ^= h >> 16n;
      return Number(h);
    };
    const rng = new Rng(seed);
    const seen = new Set<number>();
    for (let i = 0; i < 2000; i++) {
      const x = rng.int(0, 2 ** 32 - 1);
      expect(hashU32(x)).toBe(ref(x));
      seen.add(hashU32(i));
    }
    expect(seen.size).toBe(2000);
  });

  it('values lie in [-1, 1), are f32-exact, look uniform, and the range form equals the element form', () => {
    const v = hashF32Range(seed, 1000, 20000);
    let sum = 0;
    v.forEach((x, j) => {
      expect(x).toBe(hashF32(seed, 1000 + j));
      expect(Math.fround(hashF32(seed, 1000 + j))).toBe(hashF32(seed, 1000 + j));
      expect(x).toBeGreaterThanOrEqual(-1);
      expect(x).toBeLessThan(1);
      sum += x;
    });
    // mean of 20000 uniform(-1, 1): standard deviation 0.0041
    expect(Math.abs(sum / v.length)).toBeLessThan(0.03);
    expect(hashF32(seed, 5)).not.toBe(hashF32(seed + 1, 5));
  });
});

describe.skipIf(!gpu)(`hash-fill on the GPU (${seedNote(seed)})${gpu ? '' : ` (skipped: ${gpuSkipReason()})`}`, () => {
  it('fills a buffer past one grid of workgroups with exactly the host values at sampled indices', async () => {
    const device = gpu!.device;
    // more elements than one dispatch's workgroups cover, so the grid-stride loop runs
    const count = device.limits.maxComputeWorkgroupsPerDimension * 256 + 4099;
    const buf = device.createBuffer({ size: count * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
    new HashFill(device).fill(buf, seed, count);
    const stride = device.limits.maxComputeWorkgroupsPerDimension * 256;
    const rng = new Rng(seed);
    const starts = [0, stride - 32, count - 64, ...Array.from({ length: 8 }, () => rng.int(0, count - 64))];
    const rb = device.createBuffer({
      size: starts.length * 64 * 4,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    const enc = device.createCommandEncoder();
    starts.forEach((s, i) => {
      enc.copyBufferToBuffer(buf, s * 4, rb, i * 256, 256);
    });
    device.queue.submit([enc.finish()]);
    await rb.mapAsync(GPUMapMode.READ);
    const got = new Float32Array(rb.getMappedRange().slice(0));
    rb.unmap();
    rb.destroy();
    buf.destroy();
    console.log(`hash fill: ${count} elements, ${starts.length} runs of 64 compared, starts ${starts.join(', ')}`);
    starts.forEach((s, i) => {
      expect(Array.from(got.subarray(i * 64, (i + 1) * 64))).toEqual(Array.from(hashF32Range(seed, s, 64)));
    });
  }, 120_000);
});

describe.skipIf(gpu)(`hash-fill on the GPU (skipped: ${gpuSkipReason()})`, () => {
  it('needs a WebGPU adapter', () => {});
});
