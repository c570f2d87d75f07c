/**
 * `tessera derain <image.png> --ref <reference.png> [--base prior|prenet|transformer] --out out.png`:
 * refines a de-rained image, attending to a clean reference of a similar scene, with the filter
 * trained by scripts/derain/train.py (models/derain/filter.safetensors). With `--base` the input is
 * the rainy image and that base de-rains it first (prior: the guided-filter method on the host;
 * prenet, the trained CNN, and transformer, the trained Restormer-style network: compiled like the
 * filter); without it the input is already de-rained. `--refiner` runs the reference-free refiner
 * instead (no --ref). PNG in and out; JPEG is not read (convert first).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { openBackend } from '../backends/open.js';
import type { Backend } from '../backends/backend.js';
import { DerainModel } from '../models/derain/derain-model.js';
import { PrenetModel } from '../models/derain/prenet-model.js';
import { RestormerModel } from '../models/derain/restormer-model.js';
import type { RgbImage } from '../vision/image.js';
import { decodePng, encodePng } from '../vision/png.js';
import { priorDerain } from '../vision/prior-derain.js';

export const DERAIN_BASES = ['prior', 'prenet', 'transformer'] as const;

export interface DerainOptions {
  ref?: string;
  out: string;
  model?: string;
  refiner?: boolean;
  backend?: string;
  base?: string;
  baseModel?: string;
}

async function runBase(base: string, rainy: RgbImage, backend: Backend, path: string | undefined): Promise<RgbImage> {
  if (base === 'prior') return priorDerain(rainy);
  if (base === 'prenet') {
    const prenet = await PrenetModel.open(path ?? 'models/derain/prenet.safetensors', backend);
    try {
      return await prenet.run(rainy);
    } finally {
      prenet.destroy();
    }
  }
  if (base === 'transformer') {
    const transformer = await RestormerModel.open(path ?? 'models/derain/transformer.safetensors', backend);
    try {
      return await transformer.run(rainy);
    } finally {
      transformer.destroy();
    }
  }
  throw new Error(`unknown base '${base}': one of ${DERAIN_BASES.join(', ')}`);
}

/** The command's work, returning its one-line summary (exported for tests). */
export async function derainCommand(image: string, opts: DerainOptions): Promise<string> {
  const modelPath = opts.model ?? `models/derain/${opts.refiner ? 'refiner' : 'filter'}.safetensors`;
  const input = decodePng(readFileSync(image), image);
  const ref = opts.ref ? decodePng(readFileSync(opts.ref), opts.ref) : undefined;
  const backend = await openBackend({ prefer: opts.backend as 'cpu' | 'webgpu' | undefined });
  const model = await DerainModel.open(modelPath, backend);
  try {
    if (!model.config.reference && ref) console.warn('[tessera] the refiner takes no reference: --ref ignored');
    const t0 = performance.now();
    const derained = opts.base ? await runBase(opts.base, input, backend, opts.baseModel) : input;
    const out = await model.run(derained, ref);
    writeFileSync(opts.out, encodePng(out));
    return `${opts.out}: ${out.width}×${out.height}, ${(performance.now() - t0).toFixed(0)} ms on ${backend.name}`;
  } finally {
    model.destroy();
  }
}

export function registerDerainCommand(program: Command): void {
  program
    .command('derain')
    .description('refine a de-rained image with a clean reference of a similar scene (reference-guided filter)')
    .argument('<image>', 'the image as a base de-rainer left it, or the rainy image with --base (PNG)')
    .option('--ref <png>', 'a clean image of the same or a similar scene (PNG); required by the filter')
    .requiredOption('--out <png>', 'where to write the refined image')
    .option('--model <safetensors>', 'weights (default models/derain/filter.safetensors, or refiner.safetensors)')
    .option('--refiner', 'the reference-free refiner instead of the filter')
    .option('--base <name>', `de-rain the input first with a base: ${DERAIN_BASES.join(', ')}`)
    .option('--base-model <safetensors>', "the base network's weights (default models/derain/<base>.safetensors)")
    .option('--backend <name>', 'webgpu or cpu (default: WebGPU when there is an adapter)')
    .action(async function (this: Command, image: string, opts: DerainOptions) {
      try {
        console.log(await derainCommand(image, opts));
      } catch (e) {
        this.error(`error: ${(e as Error).message}`);
      }
    });
}
