/**
 * The compiled de-raining filter (and the reference-free refiner) on tiny images with random
 * weights, against the float64 forward of src/models/derain/reference.ts; odd sizes, an image and
 * a reference of different sizes, one compiled artifact for all of them.
 */
import { describe, expect, it } from 'vitest';
import type { Backend } from '../../../src/backends/backend.js';
import { CpuBackend } from '../../../src/backends/cpu/cpu-backend.js';
import { type DerainConfig, DerainConfigError } from '../../../src/models/derain/derain-config.js';
import { DerainModel } from '../../../src/models/derain/derain-model.js';
import { randomDerainWeights } from '../../../src/models/derain/random-weights.js';
import { derainReferenceF64 } from '../../../src/models/derain/reference.js';
import { seedNote, testSeed } from '../../../src/testing/seed.js';
import { Rng } from '../../../src/util/rng.js';
import { type RgbImage, rgbImage } from '../../../src/vision/image.js';
import { mapOf } from '../../../src/vision/reference-ops.js';
import { gpuBackend, gpuSkipReason } from '../../gpu-setup.js';

const seed = testSeed();
const TINY: DerainConfig = { channels: [4, 8, 16], heads: 2, reference: true, eps: 1e-5 };
const SIZES: { image: [number, number]; ref: [number, number] }[] = [
  { image: [13, 17], ref: [9, 11] },
  { image: [8, 8], ref: [8, 8] },
  { image: [1, 3], ref: [5, 2] },
];

function randomImage(rng: Rng, h: number, w: number): RgbImage {
  return rgbImage(
    w,
    h,
    Float32Array.from({ length: h * w * 3 }, () => rng.uniform(0, 1)),
  );
}

const asMap = (im: RgbImage) => mapOf(1, im.height, im.width, 3, Float64Array.from(im.data));

async function checkAgainstFloat64(backend: Backend, cfg: DerainConfig): Promise<void> {
  const weights = randomDerainWeights(cfg, seed);
  const w64 = new Map([...weights].map(([k, v]) => [k, Float64Array.from(v)]));
  const model = DerainModel.fromWeights(cfg, weights, backend);
  const compileId = model.executable.compileId;
  const rng = new Rng(seed ^ 0x5eed);
  try {
    for (const { image, ref } of SIZES) {
      const x = randomImage(rng, ...image);
      const r = randomImage(rng, ...ref);
      const got = await model.run(x, cfg.reference ? r : undefined);
      const want = derainReferenceF64(w64, cfg, asMap(x), asMap(r));
      expect([got.height, got.width]).toEqual(image);
      let worst = 0;
      for (let i = 0; i < want.data.length; i++) {
        const err = Math.abs(got.data[i]! - want.data[i]!);
        if (!(err <= 2e-4)) expect.fail(`${image.join('×')}: value ${i} got ${got.data[i]} want ${want.data[i]}`);
        worst = Math.max(worst, err);
      }
      // the residual is not trivially zero: the check compares a real computation
      const moved = want.data.reduce((a, v, i) => Math.max(a, Math.abs(v - x.data[i]!)), 0);
      expect(moved).toBeGreaterThan(1e-2);
    }
    expect(model.executable.compileId).toBe(compileId);
  } finally {
    model.destroy();
  }
}

describe(`de-raining network on the CPU backend (${seedNote(seed)})`, () => {
  it('the filter matches the float64 forward at odd sizes (image 13×17, reference 9×11, …)', async () => {
    await checkAgainstFloat64(new CpuBackend(), TINY);
  });

  it('the reference-free refiner matches the float64 forward', async () => {
    await checkAgainstFloat64(new CpuBackend(), { ...TINY, reference: false });
  });

  it('the filter without a reference is a clear error', async () => {
    const model = DerainModel.fromWeights(TINY, randomDerainWeights(TINY, seed), new CpuBackend());
    await expect(model.run(rgbImage(4, 4))).rejects.toThrow(DerainConfigError);
    model.destroy();
  });

  it('a missing weight is named', () => {
    const ws = randomDerainWeights(TINY, seed);
    ws.delete('attn.k.weight');
    expect(() => DerainModel.fromWeights(TINY, ws, new CpuBackend())).toThrow(/'attn.k.weight' \[16, 16\] is missing/);
  });
});

const gpu = await gpuBackend();
describe.skipIf(!gpu)(
  `de-raining network on WebGPU (${seedNote(seed)})${gpu ? '' : ` — skipped: ${gpuSkipReason()}`}`,
  () => {
    it('the filter matches the float64 forward at odd sizes', async () => {
      await checkAgainstFloat64(gpu!, TINY);
    });
    it('the reference-free refiner matches the float64 forward', async () => {
      await checkAgainstFloat64(gpu!, { ...TINY, reference: false });
    });
  },
);
