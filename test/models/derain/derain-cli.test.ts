/**
 * `tessera derain` end to end on the CPU backend: weights written as safetensors with the config in
 * their metadata (as scripts/derain/train.py writes them), PNG in, PNG out, compared with the
 * float64 forward rounded to 8 bits; a malformed image and a wrong weights file give clear errors.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type DerainOptions, derainCommand } from '../../../src/cli/derain.js';
import { writeSafetensors } from '../../../src/io/safetensors-writer.js';
import {
  type DerainConfig,
  derainConfigToMetadata,
  derainWeightShapes,
} from '../../../src/models/derain/derain-config.js';
import { prenetMetadata, prenetWeightShapes } from '../../../src/models/derain/prenet.js';
import { randomDerainWeights } from '../../../src/models/derain/random-weights.js';
import { restormerMetadata, restormerWeightShapes } from '../../../src/models/derain/restormer.js';
import { derainReferenceF64 } from '../../../src/models/derain/reference.js';
import { seedNote, testSeed } from '../../../src/testing/seed.js';
import { Rng } from '../../../src/util/rng.js';
import { rgbImage } from '../../../src/vision/image.js';
import { decodePng, encodePng } from '../../../src/vision/png.js';
import { mapOf } from '../../../src/vision/reference-ops.js';
import { writeNet } from './tiny-networks.js';

const seed = testSeed();
const CFG: DerainConfig = { channels: [4, 8, 8], heads: 2, reference: true, eps: 1e-5 };

async function writeModel(dir: string, cfg: DerainConfig, name: string): Promise<Map<string, Float32Array>> {
  const ws = randomDerainWeights(cfg, seed);
  const shapes = new Map(derainWeightShapes(cfg));
  await writeSafetensors(
    join(dir, name),
    [...ws].map(([k, v]) => [k, { dtype: 'f32' as const, shape: shapes.get(k)!, data: v }] as const),
    derainConfigToMetadata(cfg),
  );
  return ws;
}

function png(dir: string, name: string, h: number, w: number, rng: Rng) {
  const img = rgbImage(
    w,
    h,
    Float32Array.from({ length: h * w * 3 }, () => rng.int(0, 255) / 255),
  );
  writeFileSync(join(dir, name), encodePng(img));
  return img;
}

describe(`tessera derain (${seedNote(seed)})`, () => {
  const dir = mkdtempSync(join(tmpdir(), 'derain-cli-'));
  /** `tessera derain` on `input` (in dir) with ref.png and filter.safetensors on the CPU backend unless `opts` says otherwise. */
  const derain = (input: string, opts: Partial<DerainOptions> & { out: string }) =>
    derainCommand(join(dir, input), {
      ref: join(dir, 'ref.png'),
      model: join(dir, 'filter.safetensors'),
      backend: 'cpu',
      ...opts,
      out: join(dir, opts.out),
    });

  it('refines a PNG with a reference PNG: the output is the float64 forward in 8 bits', async () => {
    const ws = await writeModel(dir, CFG, 'filter.safetensors');
    const rng = new Rng(seed);
    const x = png(dir, 'in.png', 11, 14, rng);
    const r = png(dir, 'ref.png', 9, 7, rng);
    const msg = await derain('in.png', { out: 'out.png' });
    expect(msg).toMatch(/out\.png: 14×11/);
    const got = decodePng(readFileSync(join(dir, 'out.png')));
    const w64 = new Map([...ws].map(([k, v]) => [k, Float64Array.from(v)]));
    const asMap = (im: typeof x) => mapOf(1, im.height, im.width, 3, Float64Array.from(im.data));
    const want = derainReferenceF64(w64, CFG, asMap(x), asMap(r));
    want.data.forEach((v, i) => {
      const q = Math.round(Math.min(1, Math.max(0, v)) * 255) / 255;
      // one 8-bit step where f32 and f64 straddle a rounding boundary
      if (!(Math.abs(got.data[i]! - q) <= 1 / 255 + 1e-6)) expect.fail(`value ${i}: got ${got.data[i]} want ${q}`);
    });
  });

  it('de-rains with the prior base first (--base prior), then refines', async () => {
    const rng = new Rng(seed ^ 9);
    png(dir, 'rainy.png', 12, 10, rng);
    const msg = await derain('rainy.png', { out: 'out2.png', base: 'prior' });
    expect(msg).toMatch(/out2\.png: 10×12/);
    await expect(derain('rainy.png', { out: 'o.png', base: 'cnn' })).rejects.toThrow(
      /unknown base 'cnn': one of prior, prenet, transformer/,
    );
  });

  it('runs the trained bases compiled (--base prenet, --base transformer with an odd-sized image)', async () => {
    const rng = new Rng(seed ^ 11);
    png(dir, 'rainy_odd.png', 9, 7, rng);
    const prenetCfg = { channels: 4, iters: 2, blocks: 1 };
    const restormerCfg = { channels: 4, heads: [1, 2] as [number, number] };
    await writeNet(dir, 'prenet.safetensors', prenetWeightShapes(prenetCfg), prenetMetadata(prenetCfg), rng);
    await writeNet(
      dir,
      'transformer.safetensors',
      restormerWeightShapes(restormerCfg),
      restormerMetadata(restormerCfg),
      rng,
    );
    for (const base of ['prenet', 'transformer']) {
      const msg = await derain('rainy_odd.png', {
        out: `out_${base}.png`,
        base,
        baseModel: join(dir, `${base}.safetensors`),
      });
      expect(msg).toMatch(/7×9/);
    }
  });

  it('says which file is not a PNG', async () => {
    writeFileSync(join(dir, 'bad.png'), 'GIF89a not a png');
    await expect(derain('bad.png', { out: 'o.png' })).rejects.toThrow(/bad\.png: not a PNG file \(bad signature\)/);
  });

  it('refuses a safetensors file that is not a de-raining model', async () => {
    await writeSafetensors(join(dir, 'other.safetensors'), [
      ['w', { dtype: 'f32', shape: [1], data: new Float32Array(1) }],
    ]);
    await expect(derain('in.png', { out: 'o.png', model: join(dir, 'other.safetensors') })).rejects.toThrow(
      /metadata 'format' is 'undefined', expected 'tessera-derain'/,
    );
  });
});
