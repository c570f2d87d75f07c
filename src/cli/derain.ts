/**
 * `tessera derain <image.png> --ref <reference.png> --out out.png`: refines an image that a base
 * method already de-rained, attending to a clean reference of a similar scene, with the filter
 * trained by scripts/derain/train.py (models/derain/filter.safetensors). `--refiner` runs the
 * reference-free refiner instead (no --ref). PNG in and out; JPEG is not read (convert first).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { openBackend } from '../backends/open.js';
import { DerainModel } from '../models/derain/derain-model.js';
import { decodePng, encodePng } from '../vision/png.js';

export interface DerainOptions {
  ref?: string;
  out: string;
  model?: string;
  refiner?: boolean;
  backend?: string;
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
    const out = await model.run(input, ref);
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
    .argument('<image>', 'the image as a base de-rainer left it (PNG)')
    .option('--ref <png>', 'a clean image of the same or a similar scene (PNG); required by the filter')
    .requiredOption('--out <png>', 'where to write the refined image')
    .option('--model <safetensors>', 'weights (default models/derain/filter.safetensors, or refiner.safetensors)')
    .option('--refiner', 'the reference-free refiner instead of the filter')
    .option('--backend <name>', 'webgpu or cpu (default: WebGPU when there is an adapter)')
    .action(async function (this: Command, image: string, opts: DerainOptions) {
      try {
        console.log(await derainCommand(image, opts));
      } catch (e) {
        this.error(`error: ${(e as Error).message}`);
      }
    });
}
