/** The tiny Restormer-style base compiled and ready (weights from scripts/derain/train.py's transformer.safetensors). */
import type { Backend } from '../../backends/backend.js';
import { SafetensorsFile } from '../../io/safetensors-file.js';
import { type RgbImage, rgbImage } from '../../vision/image.js';
import { type ImageNetOptions, ImageNetRunner, readWeights, uploadWeights } from './image-net-runner.js';
import {
  type RestormerConfig,
  restormerConfigFromMetadata,
  restormerFunc,
  restormerWeightShapes,
} from './restormer.js';

/** Reflect-pads bottom and right by one pixel where a side is odd (PyTorch's `F.pad(mode='reflect')`). */
export function padToEven(img: RgbImage): RgbImage {
  const h = img.height + (img.height % 2);
  const w = img.width + (img.width % 2);
  if (h === img.height && w === img.width) return img;
  const reflect = (i: number, n: number) => (i < n ? i : 2 * n - 2 - i);
  const out = rgbImage(w, h);
  for (let i = 0; i < h; i++)
    for (let j = 0; j < w; j++) {
      const si = img.height > 1 ? reflect(i, img.height) : 0;
      const sj = img.width > 1 ? reflect(j, img.width) : 0;
      for (let c = 0; c < 3; c++) out.data[(i * w + j) * 3 + c] = img.data[(si * img.width + sj) * 3 + c]!;
    }
  return out;
}

export function cropTo(img: RgbImage, width: number, height: number): RgbImage {
  if (img.width === width && img.height === height) return img;
  const out = rgbImage(width, height);
  for (let i = 0; i < height; i++)
    out.data.set(img.data.subarray(i * img.width * 3, (i * img.width + width) * 3), i * width * 3);
  return out;
}

export class RestormerModel {
  private constructor(
    readonly config: RestormerConfig,
    private readonly runner: ImageNetRunner,
  ) {}

  static fromWeights(
    cfg: RestormerConfig,
    weights: ReadonlyMap<string, Float32Array>,
    backend: Backend,
    opts: ImageNetOptions = {},
  ): RestormerModel {
    const tensors = uploadWeights(backend, restormerWeightShapes(cfg), weights);
    return new RestormerModel(cfg, new ImageNetRunner(restormerFunc(cfg), backend, tensors, 1, opts));
  }

  static async open(path: string, backend: Backend, opts: ImageNetOptions = {}): Promise<RestormerModel> {
    const file = await SafetensorsFile.open(path);
    try {
      const cfg = restormerConfigFromMetadata(file.metadata, path);
      return RestormerModel.fromWeights(cfg, await readWeights(file, restormerWeightShapes(cfg)), backend, opts);
    } finally {
      await file.close();
    }
  }

  /** De-rains a rainy image of any size (odd sides reflect-padded by one pixel, then cropped back). */
  async run(rainy: RgbImage): Promise<RgbImage> {
    return cropTo(await this.runner.run([padToEven(rainy)]), rainy.width, rainy.height);
  }

  destroy(): void {
    this.runner.destroy();
  }
}
