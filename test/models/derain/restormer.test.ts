/** The compiled tiny Restormer-style base against its float64 loops, on the CPU backend and WebGPU; odd sizes are padded on the host. */
import { describe, expect, it } from 'vitest';
import type { Backend } from '../../../src/backends/backend.js';
import { CpuBackend } from '../../../src/backends/cpu/cpu-backend.js';
import { type RestormerConfig, restormerWeightShapes } from '../../../src/models/derain/restormer.js';
import { RestormerModel, cropTo, padToEven } from '../../../src/models/derain/restormer-model.js';
import { restormerReferenceF64 } from '../../../src/models/derain/restormer-reference.js';
import { seedNote, testSeed } from '../../../src/testing/seed.js';
import { Rng } from '../../../src/util/rng.js';
import { rgbImage } from '../../../src/vision/image.js';
import { mapOf } from '../../../src/vision/reference-ops.js';
import { gpuBackend, gpuSkipReason } from '../../gpu-setup.js';

const seed = testSeed();
const CFG: RestormerConfig = { channels: 4, heads: [1, 2] };

async function check(backend: Backend): Promise<void> {
  const rng = new Rng(seed);
  const ws = new Map(
    restormerWeightShapes(CFG).map(([n, s]) => {
      const count = s.reduce((a, b) => a * b, 1);
      const scale = n.endsWith('temperature') ? 0 : s.length > 1 ? 1 / Math.sqrt(count / s[0]!) : 0.1;
      return [
        n,
        Float32Array.from(rng.normals(count, scale), (v) =>
          n.includes('norm.weight') || n.endsWith('temperature') ? 1 + v : v,
        ),
      ] as const;
    }),
  );
  const w64 = new Map([...ws].map(([k, v]) => [k, Float64Array.from(v)]));
  const model = RestormerModel.fromWeights(CFG, ws, backend);
  try {
    for (const [h, w] of [
      [13, 17],
      [6, 4],
    ] as const) {
      const x = rgbImage(
        w,
        h,
        Float32Array.from({ length: h * w * 3 }, () => rng.uniform(0, 1)),
      );
      const got = await model.run(x);
      const padded = padToEven(x);
      const ref = restormerReferenceF64(
        w64,
        CFG,
        mapOf(1, padded.height, padded.width, 3, Float64Array.from(padded.data)),
      );
      const want = cropTo(rgbImage(padded.width, padded.height, Float32Array.from(ref.data)), w, h);
      let moved = 0;
      want.data.forEach((v, i) => {
        if (!(Math.abs(got.data[i]! - v) <= 3e-4)) expect.fail(`${h}×${w} value ${i}: got ${got.data[i]} want ${v}`);
        moved = Math.max(moved, Math.abs(v - x.data[i]!));
      });
      expect(moved).toBeGreaterThan(1e-2);
    }
  } finally {
    model.destroy();
  }
}

describe(`Restormer-style base (${seedNote(seed)})`, () => {
  it('matches its float64 loops on the CPU backend (13×17 padded to 14×18, 6×4)', async () => check(new CpuBackend()));

  it('reflect-pads odd sides like PyTorch (the row before the last is repeated)', () => {
    const img = rgbImage(3, 1, Float32Array.from([1, 1, 1, 2, 2, 2, 3, 3, 3]));
    const p = padToEven(rgbImage(1, 3, img.data));
    expect([p.width, p.height]).toEqual([2, 4]);
    expect(Array.from(p.data.filter((_, i) => i % 3 === 0))).toEqual([1, 1, 2, 2, 3, 3, 2, 2]);
  });
});

const gpu = await gpuBackend();
describe.skipIf(!gpu)(
  `Restormer-style base on WebGPU (${seedNote(seed)})${gpu ? '' : ` — skipped: ${gpuSkipReason()}`}`,
  () => {
    it('matches its float64 loops', async () => check(gpu!));
  },
);
