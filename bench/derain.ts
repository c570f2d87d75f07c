/**
 * The de-raining filter on WebGPU. First the answer: on inputs PyTorch saved (a real test image
 * through the filter and the refiner, the rainy one through the PReNet and transformer bases;
 * uniform noise at sizes no stride divides), our output must be within 50 dB PSNR of PyTorch's fp32 output, else
 * nothing is written. Then the time of one call at 512² and 1024² (reference the same size)
 * against torch eager and torch.compile, measured by scripts/derain/train.py in the same run (its
 * `torch-timings.json`, BENCH_RUN_ID).
 *
 *   node dist/bench/derain.js [models/derain]     (DERAIN_SIZES=512,1024 by default)
 */
import { join } from 'node:path';
import type { Tensor } from '../src/backends/backend.js';
import { WebGpuBackend } from '../src/backends/webgpu/webgpu-backend.js';
import { SafetensorsFile } from '../src/io/safetensors-file.js';
import { DerainModel } from '../src/models/derain/derain-model.js';
import { PrenetModel } from '../src/models/derain/prenet-model.js';
import { RestormerModel } from '../src/models/derain/restormer-model.js';
import { toFloat64 } from '../src/tensor/dtype.js';
import { type RgbImage, psnr, rgbImage } from '../src/vision/image.js';
import { type BenchRow, anchorOf, cardName, fillRandom, readAnchors, row, timeGpu, writeResults } from './results.js';
import { Check } from './verify.js';

const BENCH = 'derain';
const MIN_PSNR_DB = 50;

async function nhwcImage(file: SafetensorsFile, name: string): Promise<RgbImage> {
  const info = file.info(name);
  const [, h, w] = info.shape as [number, number, number, number];
  return rgbImage(w!, h!, Float32Array.from(toFloat64(info.dtype, await file.read(name))));
}

async function main(): Promise<void> {
  const dir = process.argv[2] ?? join('models', 'derain');
  const backend = await WebGpuBackend.create({ onWarning: (m) => console.warn(m) });
  const card = cardName(backend);
  const filter = await DerainModel.open(join(dir, 'filter.safetensors'), backend, { stableStorage: true });
  const refiner = await DerainModel.open(join(dir, 'refiner.safetensors'), backend);
  const prenet = await PrenetModel.open(join(dir, 'prenet.safetensors'), backend);
  const transformer = await RestormerModel.open(join(dir, 'transformer.safetensors'), backend);
  const check = new Check(BENCH);

  const parity = await SafetensorsFile.open(join(dir, 'parity.safetensors'));
  const img = async (n: string) => nhwcImage(parity, n);
  const cases: [string, Promise<RgbImage>, Promise<RgbImage>][] = [
    [
      `filter on ${parity.metadata.case ?? 'the test image'}`,
      filter.run(await img('x'), await img('ref')),
      img('y_filter'),
    ],
    [`refiner on ${parity.metadata.case ?? 'the test image'}`, refiner.run(await img('x')), img('y_refiner')],
    [
      `prenet base on ${parity.metadata.case ?? 'the test image'} (heavy rain)`,
      prenet.run(await img('rainy')),
      img('y_prenet'),
    ],
    [
      `transformer base on ${parity.metadata.case ?? 'the test image'} (heavy rain)`,
      transformer.run(await img('rainy')),
      img('y_transformer'),
    ],
    [
      'filter on noise 95x83 (reference 61x101)',
      filter.run(await img('x_noise'), await img('ref_noise')),
      img('y_noise_filter'),
    ],
  ];
  const parityRows: BenchRow[] = [];
  for (const [what, ours, torch] of cases) {
    const db = psnr(await ours, await torch);
    check.that(db >= MIN_PSNR_DB, `${what}: PSNR against PyTorch ≥ ${MIN_PSNR_DB} dB`, `${db.toFixed(1)} dB`);
    parityRows.push(
      row({
        case: `parity ${what}`,
        metric: 'PSNR dB vs torch',
        higherIsBetter: true,
        ours: Number.isFinite(db) ? db : 200,
        anchor: null,
        anchorName: null,
        limit: null,
        limitName: null,
        anchorWhyNull: 'agreement with PyTorch on the same weights, not a comparison',
      }),
    );
  }
  await parity.close();
  refiner.destroy();
  prenet.destroy();
  transformer.destroy();

  const anchors = readAnchors(join(dir, 'torch-timings.json'), card);
  const speedRows: BenchRow[] = [];
  // DERAIN_SIZES=64,128 for a dry run on a software adapter; the H100 run times 512² and 1024²
  const sides = (process.env.DERAIN_SIZES ?? '512,1024').split(',').map(Number);
  for (const side of sides) {
    const x = backend.alloc({ dtype: 'f32', shape: [1, side, side, 3] });
    const r = backend.alloc({ dtype: 'f32', shape: [1, side, side, 3] });
    fillRandom(backend, x, 1, 0.5);
    fillRandom(backend, r, 2, 0.5);
    let out: Tensor | undefined;
    const ms = await timeGpu(backend, () => {
      out = filter.call(x, r);
    });
    for (const peer of ['torch.compile', 'eager']) {
      const a = anchorOf(anchors, `${peer} ${side}x${side}`);
      speedRows.push(
        row({
          case: `filter ${side}x${side} vs ${peer}`,
          metric: 'ms',
          higherIsBetter: false,
          ours: ms,
          anchor: a.value,
          anchorName: a.value === null ? null : `torch ${peer} fp32`,
          limit: null,
          limitName: null,
          anchorWhyNull: a.why,
        }),
      );
    }
    [x, r, ...(out ? [out] : [])].forEach((t) => backend.free(t));
  }
  filter.destroy();
  const notes =
    'the reference-guided de-raining filter (channels 16/32/64, 4 heads) compiled once with symbolic sizes; ' +
    'batch 1, f32; reference image the same size as the input; torch figures from scripts/derain/train.py (TF32 off)';
  writeResults(BENCH, card, [...parityRows, ...speedRows], notes, check.passed());
}

await main();
