/**
 * The prior-based base de-rainer: guided-filter layer separation with a streak-direction prior, in
 * float64 on the host (a classical filter, not a network; the same algorithm as
 * scripts/derain/rain.py `prior_derain`, which is its test oracle).
 *
 * 1. A self-guided filter splits the luminance into a base (low frequency) and a detail layer.
 * 2. The streak direction θ comes from the structure tensor of the bright detail.
 * 3. Rain is bright detail that is smooth along θ and sharp across it: the ratio of the detail's
 *    derivatives across and along θ weights the detail into a rain estimate.
 * 4. The estimate is removed from every channel, and each channel re-filtered, guided by the
 *    rain-free base plus the dark detail, so scene edges come back and streak residue does not.
 */
import { type RgbImage, rgbImage } from './image.js';

/** A float64 plane, row-major. */
interface Plane {
  readonly h: number;
  readonly w: number;
  readonly d: Float64Array;
}

const plane = (h: number, w: number, d = new Float64Array(h * w)): Plane => ({ h, w, d });
const map2 = (a: Plane, b: Plane, f: (x: number, y: number) => number): Plane =>
  plane(
    a.h,
    a.w,
    a.d.map((v, i) => f(v, b.d[i]!)),
  );

/** Mean over the (2r+1)² window around each pixel, edges replicated (a summed-area table). */
export function boxMean(p: Plane, r: number): Plane {
  const { h, w } = p;
  const ph = h + 2 * r + 1;
  const pw = w + 2 * r + 1;
  const s = new Float64Array((ph + 1) * (pw + 1));
  for (let i = 0; i < ph; i++) {
    const si = Math.min(h - 1, Math.max(0, i - r - 1));
    for (let j = 0; j < pw; j++) {
      const sj = Math.min(w - 1, Math.max(0, j - r - 1));
      s[(i + 1) * (pw + 1) + j + 1] =
        p.d[si * w + sj]! + s[i * (pw + 1) + j + 1]! + s[(i + 1) * (pw + 1) + j]! - s[i * (pw + 1) + j]!;
    }
  }
  const k = 2 * r + 1;
  const out = plane(h, w);
  // padded row i + r + 1 is the image's row i, so the window of output i spans padded rows i+1 … i+k
  const at = (i: number, j: number) => s[i * (pw + 1) + j]!;
  for (let i = 0; i < h; i++)
    for (let j = 0; j < w; j++)
      out.d[i * w + j] =
        (at(i + k + 1, j + k + 1) - at(i + 1, j + k + 1) - at(i + k + 1, j + 1) + at(i + 1, j + 1)) / (k * k);
  return out;
}

export function guidedFilter(guide: Plane, src: Plane, r: number, eps: number): Plane {
  const mg = boxMean(guide, r);
  const ms = boxMean(src, r);
  const cov = map2(
    boxMean(
      map2(guide, src, (a, b) => a * b),
      r,
    ),
    map2(mg, ms, (a, b) => a * b),
    (a, b) => a - b,
  );
  const v = map2(
    boxMean(
      map2(guide, guide, (a, b) => a * b),
      r,
    ),
    map2(mg, mg, (a, b) => a * b),
    (a, b) => a - b,
  );
  const a = map2(cov, v, (c, vv) => c / (vv + eps));
  const b = map2(
    ms,
    map2(a, mg, (x, y) => x * y),
    (x, y) => x - y,
  );
  const ma = boxMean(a, r);
  const mb = boxMean(b, r);
  return plane(
    guide.h,
    guide.w,
    guide.d.map((g, i) => ma.d[i]! * g + mb.d[i]!),
  );
}

/** numpy.gradient: central differences inside, one-sided at the edges; [d/drow, d/dcol]. */
function gradient(p: Plane): [Plane, Plane] {
  const { h, w, d } = p;
  const gy = plane(h, w);
  const gx = plane(h, w);
  for (let i = 0; i < h; i++)
    for (let j = 0; j < w; j++) {
      const v = (ii: number, jj: number) => d[ii * w + jj]!;
      gy.d[i * w + j] =
        i === 0 ? v(1, j) - v(0, j) : i === h - 1 ? v(h - 1, j) - v(h - 2, j) : (v(i + 1, j) - v(i - 1, j)) / 2;
      gx.d[i * w + j] =
        j === 0 ? v(i, 1) - v(i, 0) : j === w - 1 ? v(i, w - 1) - v(i, w - 2) : (v(i, j + 1) - v(i, j - 1)) / 2;
    }
  return [gy, gx];
}

/** The dominant streak angle of a bright-detail layer (structure tensor: gradients point across streaks). */
export function streakDirection(detail: Plane): number {
  const [gy, gx] = gradient(detail);
  let jxx = 0;
  let jyy = 0;
  let jxy = 0;
  for (let i = 0; i < gx.d.length; i++) {
    jxx += gx.d[i]! * gx.d[i]!;
    jyy += gy.d[i]! * gy.d[i]!;
    jxy += gx.d[i]! * gy.d[i]!;
  }
  return 0.5 * Math.atan2(2 * jxy, jxx - jyy) + Math.PI / 2;
}

export interface PriorOptions {
  readonly radius?: number;
  readonly eps?: number;
  readonly strength?: number;
}

export function priorDerain(rainy: RgbImage, opts: PriorOptions = {}): RgbImage {
  const { width: w, height: h } = rainy;
  if (w < 2 || h < 2) throw new RangeError(`the prior de-rainer needs at least 2×2 pixels, got ${w}×${h}`);
  const r = opts.radius ?? 6;
  const strength = opts.strength ?? 1;
  const ch = [0, 1, 2].map((c) =>
    plane(
      h,
      w,
      Float64Array.from({ length: h * w }, (_, i) => rainy.data[i * 3 + c]!),
    ),
  );
  const lum = plane(
    h,
    w,
    ch[0]!.d.map((v, i) => (v + ch[1]!.d[i]! + ch[2]!.d[i]!) / 3),
  );
  const base = guidedFilter(lum, lum, r, opts.eps ?? 0.02);
  const detail = map2(lum, base, (a, b) => a - b);
  const theta = streakDirection(
    plane(
      h,
      w,
      detail.d.map((v) => Math.max(v, 0)),
    ),
  );
  const [gy, gx] = gradient(detail);
  const along = map2(gx, gy, (x, y) => Math.abs(x * Math.cos(theta) + y * Math.sin(theta)));
  const across = map2(gx, gy, (x, y) => Math.abs(-x * Math.sin(theta) + y * Math.cos(theta)));
  const ba = boxMean(across, 1);
  const bl = boxMean(along, 1);
  const rain = detail.d.map((v, i) => {
    const weight = ba.d[i]! / (ba.d[i]! + bl.d[i]! + 1e-4);
    return Math.max(v, 0) * Math.min(1, Math.max(0, 2 * weight - 0.6)) * strength;
  });
  const guide = plane(
    h,
    w,
    base.d.map((v, i) => v + Math.min(detail.d[i]!, 0)),
  );
  const out = rgbImage(w, h);
  ch.forEach((p, c) => {
    const refined = guidedFilter(
      guide,
      plane(
        h,
        w,
        p.d.map((v, i) => v - rain[i]!),
      ),
      2,
      1e-3,
    );
    refined.d.forEach((v, i) => {
      out.data[i * 3 + c] = Math.min(1, Math.max(0, v));
    });
  });
  return out;
}
