/** An RGB image as the vision code passes it around: row-major H × W × 3 float32, values in [0, 1]. */
export interface RgbImage {
  readonly width: number;
  readonly height: number;
  readonly data: Float32Array;
}

export function rgbImage(width: number, height: number, data?: Float32Array): RgbImage {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1)
    throw new RangeError(`image size must be positive integers, got ${width}×${height}`);
  const d = data ?? new Float32Array(width * height * 3);
  if (d.length !== width * height * 3)
    throw new RangeError(`image data holds ${d.length} values, ${width}×${height}×3 needs ${width * height * 3}`);
  return { width, height, data: d };
}

/** Peak signal-to-noise ratio in dB of `a` against `b` (values in [0, 1]); Infinity when equal. */
export function psnr(a: RgbImage, b: RgbImage): number {
  if (a.width !== b.width || a.height !== b.height)
    throw new RangeError(`psnr: sizes differ: ${a.width}×${a.height} vs ${b.width}×${b.height}`);
  let se = 0;
  for (let i = 0; i < a.data.length; i++) se += (a.data[i]! - b.data[i]!) ** 2;
  const mse = se / a.data.length;
  return mse === 0 ? Infinity : 10 * Math.log10(1 / mse);
}
