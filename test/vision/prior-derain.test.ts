/** The prior de-rainer against scripts/derain/rain.py's numpy implementation (fixture), and its box filter against a direct window mean. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { rgbImage } from '../../src/vision/image.js';
import { boxMean, priorDerain } from '../../src/vision/prior-derain.js';

const fixture = JSON.parse(readFileSync(new URL('../fixtures/derain/prior-derain.json', import.meta.url), 'utf8')) as {
  height: number;
  width: number;
  radius: number;
  rainy: number[];
  derained: number[];
};

describe('prior de-rainer', () => {
  it('matches the numpy implementation on a 23×31 rainy image (f32 output rounding)', () => {
    const got = priorDerain(rgbImage(fixture.width, fixture.height, Float32Array.from(fixture.rainy)), {
      radius: fixture.radius,
    });
    let changed = 0;
    fixture.derained.forEach((v, i) => {
      if (!(Math.abs(got.data[i]! - v) <= 1e-6)) expect.fail(`value ${i}: got ${got.data[i]} want ${v}`);
      if (Math.abs(v - fixture.rainy[i]!) > 1e-3) changed++;
    });
    expect(changed).toBeGreaterThan(fixture.derained.length / 10);
  });

  it('box filter: the window mean with replicated edges', () => {
    const h = 5;
    const w = 7;
    const d = Float64Array.from({ length: h * w }, (_, i) => Math.sin(i * 1.7) * 3);
    const got = boxMean({ h, w, d }, 2);
    for (let i = 0; i < h; i++)
      for (let j = 0; j < w; j++) {
        let s = 0;
        for (let a = -2; a <= 2; a++)
          for (let b = -2; b <= 2; b++)
            s += d[Math.min(h - 1, Math.max(0, i + a)) * w + Math.min(w - 1, Math.max(0, j + b))]!;
        expect(got.d[i * w + j]).toBeCloseTo(s / 25, 12);
      }
  });

  it('refuses an image too small for gradients', () => {
    expect(() => priorDerain(rgbImage(1, 4))).toThrow(/at least 2×2/);
  });
});
