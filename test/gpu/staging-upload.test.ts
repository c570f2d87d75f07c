import { describe, expect, it } from 'vitest';
import { StagingUploader } from '../../src/backends/webgpu/staging-upload.js';
import type { GpuTensor } from '../../src/backends/webgpu/kernel.js';
import { weightNames } from '../../src/models/llama/graph.js';
import { uploadWeights } from '../../src/models/llama/weights.js';
import { openLlamaModel } from '../../src/models/llama/llama-family.js';
import { seedNote, testSeed } from '../../src/testing/seed.js';
import { gpuBackend, gpuSkipReason } from '../gpu-setup.js';

const gpu = await gpuBackend();
const seed = testSeed();

/** mulberry32: a tiny PRNG, enough to make arbitrary bytes. */
function random(s: number): () => number {
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe.skipIf(!gpu)(`staging uploads (${seedNote(seed)})${gpu ? '' : ` (skipped: ${gpuSkipReason()})`}`, () => {
  const b = gpu!;

  it('moves bytes across chunk and word boundaries unchanged, the ring wrapping many times', async () => {
    const rand = random(seed);
    // 1 KiB chunks: 4-slot ring wraps; 6 bf16 → 12 bytes, 1001 u8-ish f16 values → an odd tail word
    const up = new StagingUploader(
      b.device,
      (t) => t as GpuTensor,
      () => {},
      1024,
    );
    const cases = [3, 1001, 5120, 6];
    const tensors = cases.map((n) => b.alloc({ dtype: 'f16', shape: [n] }, `up${n}`));
    const hosts = cases.map((n) => Uint16Array.from({ length: n }, () => Math.floor(rand() * 0x7bff)));
    for (const [i, t] of tensors.entries()) {
      const bytes = new Uint8Array(hosts[i]!.buffer);
      await up.upload(t, bytes.byteLength, async (target, offset) => {
        target.set(bytes.subarray(offset, offset + target.length));
      });
    }
    await up.finish();
    for (const [i, t] of tensors.entries()) expect([...((await b.read(t)) as Uint16Array)]).toEqual([...hosts[i]!]);
    for (const t of tensors) b.free(t);
  });

  it('refuses more bytes than the tensor holds, and uploads after finish', async () => {
    const up = b.createUploader();
    const t = b.alloc({ dtype: 'f32', shape: [4] });
    await expect(up.upload(t, 20, async () => {})).rejects.toThrow(/20 bytes for a buffer of 16/);
    await up.finish();
    await expect(up.upload(t, 16, async () => {})).rejects.toThrow(/finished/);
    b.free(t);
  });

  it('loads the built-in model with every tensor streamed: bytes as in the file, progress rising to the total', async () => {
    const model = await openLlamaModel('models/builtin');
    const seen: number[] = [];
    let total = 0;
    const onProgress = (p: { bytesDone: number; bytesTotal: number }) => {
      seen.push(p.bytesDone);
      total = p.bytesTotal;
    };
    const names = weightNames(model.config);
    const dtype = model.weights.tensors.get(names[0]!)!.dtype;
    const tensors = await uploadWeights(b, model.config, model.weights, dtype, onProgress, 0);
    try {
      // a sample (each read back is a map round trip): the first, a middle and the last tensor
      for (const i of [0, names.length >> 1, names.length - 1]) {
        const name = names[i]!;
        const want = await model.weights.read(name);
        const got = await b.read(tensors[i]!);
        expect(new Uint8Array(got.buffer, got.byteOffset, want.byteLength)).toEqual(
          new Uint8Array(want.buffer, want.byteOffset, want.byteLength),
        );
      }
      expect(seen.length).toBe(names.length);
      expect(seen.every((x, i) => i === 0 || x >= seen[i - 1]!)).toBe(true);
      expect(seen.at(-1)).toBe(total);
    } finally {
      for (const t of tensors) b.free(t);
      await model.weights.close();
    }
  });
});
