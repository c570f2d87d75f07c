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
import { compile } from '../../compiler/compile.js';
import type { Executable } from '../../compiler/executable.js';
import { VirtualMachine } from '../../compiler/vm.js';
import { moduleOf } from '../../ir/graph.js';
import { SafetensorsFile } from '../../io/safetensors-file.js';
import { toFloat64 } from '../../tensor/dtype.js';
import { type RgbImage, rgbImage } from '../../vision/image.js';
import {
  type DerainConfig,
  DerainConfigError,
  checkDerainConfig,
  derainConfigFromMetadata,
  derainWeightShapes,
} from './derain-config.js';
import { derainFunc } from './graph.js';

export interface DerainModelOptions {
  /** Keep every intermediate tensor between calls (needed under a recorded dispatch stream). */
  readonly stableStorage?: boolean;
}

export class DerainModel {
  private readonly vm: VirtualMachine;

  private constructor(
    readonly config: DerainConfig,
    readonly executable: Executable,
    private readonly backend: Backend,
    private readonly weights: readonly Tensor[],
    opts: DerainModelOptions,
  ) {
    this.vm = new VirtualMachine(executable, backend, { stableStorage: opts.stableStorage === true });
  }

  /** Compiles the graph for `cfg` and uploads `weights` (checked against the expected names and shapes). */
  static fromWeights(
    cfg: DerainConfig,
    weights: ReadonlyMap<string, Float32Array>,
    backend: Backend,
    opts: DerainModelOptions = {},
  ): DerainModel {
    checkDerainConfig(cfg);
    const tensors: Tensor[] = [];
    for (const [name, shape] of derainWeightShapes(cfg)) {
      const data = weights.get(name);
      const n = shape.reduce((a, b) => a * b, 1);
      if (!data) throw new DerainConfigError(`weight '${name}' [${shape.join(', ')}] is missing`);
      if (data.length !== n)
        throw new DerainConfigError(`weight '${name}' holds ${data.length} values, [${shape.join(', ')}] needs ${n}`);
      const t = backend.alloc({ dtype: 'f32', shape }, name);
      backend.write(t, data);
      tensors.push(t);
    }
    return new DerainModel(cfg, compile(moduleOf([derainFunc(cfg)])), backend, tensors, opts);
  }

  /** Opens a safetensors file written by scripts/derain/train.py (config in its metadata). */
  static async open(path: string, backend: Backend, opts: DerainModelOptions = {}): Promise<DerainModel> {
    const file = await SafetensorsFile.open(path);
    try {
      const cfg = derainConfigFromMetadata(file.metadata, path);
      const weights = new Map<string, Float32Array>();
      for (const [name] of derainWeightShapes(cfg)) {
        if (!file.tensors.has(name)) throw new DerainConfigError(`${path}: weight '${name}' is missing`);
        const info = file.info(name);
        weights.set(name, Float32Array.from(toFloat64(info.dtype, await file.read(name))));
      }
      return DerainModel.fromWeights(cfg, weights, backend, opts);
    } finally {
      await file.close();
    }
  }

  /** Refines `image` (already de-rained by a base method); the filter needs a clean `reference`. */
  async run(image: RgbImage, reference?: RgbImage): Promise<RgbImage> {
    const args = this.inputs(image, reference);
    try {
      const y = (await this.vm.run('main', [...args, ...this.weights])) as Tensor;
      const data = Float32Array.from(toFloat64('f32', await this.backend.read(y)));
      this.backend.free(y);
      return rgbImage(image.width, image.height, data);
    } finally {
      args.forEach((t) => this.backend.free(t));
    }
  }

  /**
   * Issues the whole compiled call on tensors already on the device ([1, H, W, 3] f32) without
   * waiting or reading back — what a recorded dispatch stream captures for timing. The caller frees
   * the result.
   */
  call(x: Tensor, reference?: Tensor): Tensor {
    return this.vm.runSync('main', [...(this.config.reference ? [x, reference!] : [x]), ...this.weights]) as Tensor;
  }

  destroy(): void {
    this.vm.release();
    this.weights.forEach((t) => this.backend.free(t));
  }

  private inputs(image: RgbImage, reference: RgbImage | undefined): Tensor[] {
    if (this.config.reference && !reference)
      throw new DerainConfigError('this filter attends to a reference image: pass one (--ref)');
    const imgs = this.config.reference ? [image, reference!] : [image];
    return imgs.map((im) => {
      const t = this.backend.alloc({ dtype: 'f32', shape: [1, im.height, im.width, 3] });
      this.backend.write(t, im.data);
      return t;
    });
  }
}
