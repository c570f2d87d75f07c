/**
 * A GGUF file written with our writer (Q8_0, Q4_K, Q6_K matrices) keeps its matrices quantized on
 * the device, and `quant_matmul` over the stored bytes matches the f32-dequantized path: the file's
 * tensors read through GgufFile.read (dequantized on load) and multiplied in float64.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GgufFile } from '../../src/io/gguf-file.js';
import { encodeGgml } from '../../src/io/gguf-quantize.js';
import type { GgmlTypeName } from '../../src/io/gguf-types.js';
import { writeGguf } from '../../src/io/gguf-writer.js';
import { bitsPerWeight } from '../../src/quant/formats.js';
import { uploadGgufQuantized, whyNotKeptQuantized } from '../../src/quant/gguf-weights.js';
import { compareWithBound } from '../../src/sparse/ops.js';
import { seedNote, testSeed } from '../../src/testing/seed.js';
import { Rng } from '../../src/util/rng.js';
import { gpuBackends, gpusOrSkip } from '../gpu-setup.js';

const seed = testSeed();
const gpus = (await gpuBackends()).slice(0, 1);
const dir = mkdtempSync(join(tmpdir(), 'tessera-quant-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const MATS: { name: string; type: GgmlTypeName; n: number; k: number }[] = [
  { name: 'blk.0.attn_q.weight', type: 'Q8_0', n: 24, k: 96 },
  { name: 'blk.0.ffn_up.weight', type: 'Q4_K', n: 40, k: 512 },
  { name: 'output.weight', type: 'Q6_K', n: 33, k: 256 },
];

async function writeFile(rng: Rng): Promise<string> {
  const path = join(dir, `mats-${seed}.gguf`);
  await writeGguf(path, {
    metadata: { 'general.architecture': 'llama' },
    tensors: [
      ...MATS.map((m) => ({
        name: m.name,
        type: m.type,
        shape: [m.n, m.k],
        data: encodeGgml(m.type, rng.normals(m.n * m.k, 0.3)),
      })),
      { name: 'output_norm.weight', type: 'F32' as const, shape: [96], data: encodeGgml('F32', rng.normals(96)) },
    ],
  });
  return path;
}

describe(`GGUF matrices kept quantized on the device (${seedNote(seed)})`, async () => {
  const rng = new Rng(seed);
  const path = await writeFile(rng);

  it('refuses tensors that are not quantized matrices, with the reason', async () => {
    const g = await GgufFile.open(path);
    try {
      expect(whyNotKeptQuantized(g, 'output_norm.weight')).toMatch(/is F32; kept quantized are/);
      expect(whyNotKeptQuantized(g, 'blk.0.ffn_up.weight')).toBeNull();
    } finally {
      await g.close();
    }
  });

  for (const { name, backend } of gpusOrSkip(gpus, 'webgpu: quant_matmul over GGUF bytes')) {
    for (const mat of MATS) {
      for (const m of [1, 5, 21]) {
        it(`${name}: ${mat.type} ${mat.name} M${m} matches the f32-dequantized path`, async () => {
          const g = await GgufFile.open(path);
          const w = await uploadGgufQuantized(backend, g, mat.name);
          try {
            // the stored bytes, no more: at most 8.5 bits a weight against the dequantized path's 32
            expect(w.bytes).toBe(g.info(mat.name).fileBytes);
            expect(w.bytes).toBe((mat.n * mat.k * bitsPerWeight(w.attrs.format, mat.k)) / 8);
            expect(w.bytes * 3.7).toBeLessThan(mat.n * mat.k * 4);
            const W = Float64Array.from((await g.read(mat.name)) as Float32Array);
            const x = Float32Array.from(rng.normals(m * mat.k));
            const xt = backend.alloc({ dtype: 'f32', shape: [m, mat.k] });
            const yt = backend.alloc({ dtype: 'f32', shape: [m, mat.n] });
            backend.write(xt, x);
            backend.run('quant_matmul', w.attrs, [xt, w.tensor], [yt]);
            const got = Float64Array.from((await backend.read(yt)) as Float32Array);
            const want = new Float64Array(m * mat.n);
            const mag = new Float64Array(m * mat.n);
            for (let i = 0; i < m; i++)
              for (let j = 0; j < mat.n; j++)
                for (let c = 0; c < mat.k; c++) {
                  const p = x[i * mat.k + c]! * W[j * mat.k + c]!;
                  want[i * mat.n + j] += p;
                  mag[i * mat.n + j] += Math.abs(p);
                }
            expect(compareWithBound(got, want, mag, () => mat.k) ?? 'ok').toBe('ok');
            backend.free(xt);
            backend.free(yt);
          } finally {
            backend.free(w.tensor);
            await g.close();
          }
        });
      }
    }
  }
});
