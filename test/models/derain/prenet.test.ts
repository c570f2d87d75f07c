/** The compiled PReNet-style base against its float64 loops, on the CPU backend and WebGPU, at odd sizes. */
import { describe, expect, it } from 'vitest';
import type { Backend } from '../../../src/backends/backend.js';
import { CpuBackend } from '../../../src/backends/cpu/cpu-backend.js';
import type { PrenetConfig } from '../../../src/models/derain/prenet.js';
import { prenetWeightShapes } from '../../../src/models/derain/prenet.js';
import { PrenetModel } from '../../../src/models/derain/prenet-model.js';
import { prenetReferenceF64 } from '../../../src/models/derain/prenet-reference.js';
import { seedNote, testSeed } from '../../../src/testing/seed.js';
import { Rng } from '../../../src/util/rng.js';
import { rgbImage } from '../../../src/vision/image.js';
import { mapOf } from '../../../src/vision/reference-ops.js';
import { gpuBackend, gpuSkipReason } from '../../gpu-setup.js';

const seed = testSeed();
const CFG: PrenetConfig = { channels: 4, iters: 3, blocks: 2 };

async function check(backend: Backend): Promise<void> {
  const rng = new Rng(seed);
  const ws = new Map(
    prenetWeightShapes(CFG).map(([n, s]) => {
      const count = s.reduce((a, b) => a * b, 1);
      return [n, Float32Array.from(rng.normals(count, s.length > 1 ? 1 / Math.sqrt(count / s[0]!) : 0.1))] as const;
    }),
  );
  const model = PrenetModel.fromWeights(CFG, ws, backend);
  try {
    for (const [h, w] of [
      [13, 17],
      [2, 5],
    ] as const) {
      const x = rgbImage(
        w,
        h,
        Float32Array.from({ length: h * w * 3 }, () => rng.uniform(0, 1)),
      );
      const got = await model.run(x);
      const w64 = new Map([...ws].map(([k, v]) => [k, Float64Array.from(v)]));
      const want = prenetReferenceF64(w64, CFG, mapOf(1, h, w, 3, Float64Array.from(x.data)));
      let moved = 0;
      want.data.forEach((v, i) => {
        if (!(Math.abs(got.data[i]! - v) <= 2e-4)) expect.fail(`${h}×${w} value ${i}: got ${got.data[i]} want ${v}`);
        moved = Math.max(moved, Math.abs(v - x.data[i]!));
      });
      expect(moved).toBeGreaterThan(1e-2);
    }
  } finally {
    model.destroy();
  }
}

describe(`PReNet-style base (${seedNote(seed)})`, () => {
  it('matches its float64 loops on the CPU backend (13×17, 2×5)', async () => check(new CpuBackend()));
});

const gpu = await gpuBackend();
describe.skipIf(!gpu)(
  `PReNet-style base on WebGPU (${seedNote(seed)})${gpu ? '' : ` — skipped: ${gpuSkipReason()}`}`,
  () => {
    it('matches its float64 loops', async () => check(gpu!));
  },
);
