/**
 * What every compiled image network of this family shares: weights checked and uploaded once and
 * kept resident, the graph compiled once (symbolic sizes), `RgbImage`s in and out as [1, H, W, 3]
 * f32 tensors, and an enqueue-only call for recorded dispatch streams.
 */
import type { Backend, Tensor } from '../../backends/backend.js';
import { compile } from '../../compiler/compile.js';
import type { Executable } from '../../compiler/executable.js';
import { VirtualMachine } from '../../compiler/vm.js';
import type { Func } from '../../ir/graph.js';
import { moduleOf } from '../../ir/graph.js';
import type { SafetensorsFile } from '../../io/safetensors-file.js';
import { toFloat64 } from '../../tensor/dtype.js';
import { type RgbImage, rgbImage } from '../../vision/image.js';
import { DerainConfigError } from './derain-config.js';

export interface ImageNetOptions {
  /** Keep every intermediate tensor between calls (needed under a recorded dispatch stream). */
  readonly stableStorage?: boolean;
}

/** Checks `weights` against `shapes` (names and sizes) and uploads them in that order. */
export function uploadWeights(
  backend: Backend,
  shapes: readonly [string, number[]][],
  weights: ReadonlyMap<string, Float32Array>,
): Tensor[] {
  return shapes.map(([name, shape]) => {
    const data = weights.get(name);
    const n = shape.reduce((a, b) => a * b, 1);
    if (!data) throw new DerainConfigError(`weight '${name}' [${shape.join(', ')}] is missing`);
    if (data.length !== n)
      throw new DerainConfigError(`weight '${name}' holds ${data.length} values, [${shape.join(', ')}] needs ${n}`);
    const t = backend.alloc({ dtype: 'f32', shape }, name);
    backend.write(t, data);
    return t;
  });
}

/** The named tensors of an open safetensors file as f32, each one required. */
export async function readWeights(
  file: SafetensorsFile,
  shapes: readonly [string, number[]][],
): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const [name] of shapes) {
    if (!file.tensors.has(name)) throw new DerainConfigError(`${file.path}: weight '${name}' is missing`);
    out.set(name, Float32Array.from(toFloat64(file.info(name).dtype, await file.read(name))));
  }
  return out;
}

export class ImageNetRunner {
  readonly executable: Executable;
  private readonly vm: VirtualMachine;

  constructor(
    func: Func,
    private readonly backend: Backend,
    private readonly weights: readonly Tensor[],
    /** How many images the function takes before its weights (1, or 2 with a reference). */
    private readonly images: 1 | 2,
    opts: ImageNetOptions = {},
  ) {
    this.executable = compile(moduleOf([func]));
    this.vm = new VirtualMachine(this.executable, backend, { stableStorage: opts.stableStorage === true });
  }

  async run(imgs: readonly RgbImage[]): Promise<RgbImage> {
    const args = imgs.slice(0, this.images).map((im) => {
      const t = this.backend.alloc({ dtype: 'f32', shape: [1, im.height, im.width, 3] });
      this.backend.write(t, im.data);
      return t;
    });
    try {
      const y = (await this.vm.run('main', [...args, ...this.weights])) as Tensor;
      const data = Float32Array.from(toFloat64('f32', await this.backend.read(y)));
      this.backend.free(y);
      return rgbImage(imgs[0]!.width, imgs[0]!.height, data);
    } finally {
      args.forEach((t) => this.backend.free(t));
    }
  }

  call(imgs: readonly Tensor[]): Tensor {
    return this.vm.runSync('main', [...imgs.slice(0, this.images), ...this.weights]) as Tensor;
  }

  destroy(): void {
    this.vm.release();
    this.weights.forEach((t) => this.backend.free(t));
  }
}
