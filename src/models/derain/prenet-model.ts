/** The PReNet-style base de-rainer compiled and ready (weights from scripts/derain/train.py's prenet.safetensors). */
import type { Backend } from '../../backends/backend.js';
import { SafetensorsFile } from '../../io/safetensors-file.js';
import type { RgbImage } from '../../vision/image.js';
import { type ImageNetOptions, ImageNetRunner, readWeights, uploadWeights } from './image-net-runner.js';
import { type PrenetConfig, prenetConfigFromMetadata, prenetFunc, prenetWeightShapes } from './prenet.js';

export class PrenetModel {
  private constructor(
    readonly config: PrenetConfig,
    private readonly runner: ImageNetRunner,
  ) {}

  static fromWeights(
    cfg: PrenetConfig,
    weights: ReadonlyMap<string, Float32Array>,
    backend: Backend,
    opts: ImageNetOptions = {},
  ): PrenetModel {
    const tensors = uploadWeights(backend, prenetWeightShapes(cfg), weights);
    return new PrenetModel(cfg, new ImageNetRunner(prenetFunc(cfg), backend, tensors, 1, opts));
  }

  static async open(path: string, backend: Backend, opts: ImageNetOptions = {}): Promise<PrenetModel> {
    const file = await SafetensorsFile.open(path);
    try {
      const cfg = prenetConfigFromMetadata(file.metadata, path);
      return PrenetModel.fromWeights(cfg, await readWeights(file, prenetWeightShapes(cfg)), backend, opts);
    } finally {
      await file.close();
    }
  }

  /** De-rains a rainy image. */
  run(rainy: RgbImage): Promise<RgbImage> {
    return this.runner.run([rainy]);
  }

  destroy(): void {
    this.runner.destroy();
  }
}
