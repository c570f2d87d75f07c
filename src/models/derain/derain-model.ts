/**
 * A de-raining filter ready to run: the graph compiled once (symbolic sizes), the weights uploaded
 * once and kept resident, images in and out as `RgbImage`.
 *
 * Example:
 * ```ts
 * const model = await DerainModel.open('models/derain/filter.safetensors', backend);
 * const clean = await model.run(derained, reference);
 * ```
 */
import type { Backend, Tensor } from '../../backends/backend.js';
import type { Executable } from '../../compiler/executable.js';
import { SafetensorsFile } from '../../io/safetensors-file.js';
import type { RgbImage } from '../../vision/image.js';
import {
  type DerainConfig,
  DerainConfigError,
  checkDerainConfig,
  derainConfigFromMetadata,
  derainWeightShapes,
} from './derain-config.js';
import { derainFunc } from './graph.js';
import { type ImageNetOptions, ImageNetRunner, readWeights, uploadWeights } from './image-net-runner.js';

export type DerainModelOptions = ImageNetOptions;

export class DerainModel {
  private constructor(
    readonly config: DerainConfig,
    private readonly runner: ImageNetRunner,
  ) {}

  get executable(): Executable {
    return this.runner.executable;
  }

  /** Compiles the graph for `cfg` and uploads `weights` (checked against the expected names and shapes). */
  static fromWeights(
    cfg: DerainConfig,
    weights: ReadonlyMap<string, Float32Array>,
    backend: Backend,
    opts: DerainModelOptions = {},
  ): DerainModel {
    checkDerainConfig(cfg);
    const tensors = uploadWeights(backend, derainWeightShapes(cfg), weights);
    return new DerainModel(cfg, new ImageNetRunner(derainFunc(cfg), backend, tensors, cfg.reference ? 2 : 1, opts));
  }

  /** Opens a safetensors file written by scripts/derain/train.py (config in its metadata). */
  static async open(path: string, backend: Backend, opts: DerainModelOptions = {}): Promise<DerainModel> {
    const file = await SafetensorsFile.open(path);
    try {
      const cfg = derainConfigFromMetadata(file.metadata, path);
      return DerainModel.fromWeights(cfg, await readWeights(file, derainWeightShapes(cfg)), backend, opts);
    } finally {
      await file.close();
    }
  }

  /** Refines `image` (already de-rained by a base method); the filter needs a clean `reference`. */
  async run(image: RgbImage, reference?: RgbImage): Promise<RgbImage> {
    this.needReference(reference);
    return this.runner.run(reference ? [image, reference] : [image]);
  }

  /**
   * Issues the whole compiled call on tensors already on the device ([1, H, W, 3] f32) without
   * waiting or reading back — what a recorded dispatch stream captures for timing. The caller frees
   * the result.
   */
  call(x: Tensor, reference?: Tensor): Tensor {
    this.needReference(reference);
    return this.runner.call(reference ? [x, reference] : [x]);
  }

  destroy(): void {
    this.runner.destroy();
  }

  private needReference(reference: unknown): void {
    if (this.config.reference && !reference)
      throw new DerainConfigError('this filter attends to a reference image: pass one (--ref)');
  }
}
