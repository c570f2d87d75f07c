/**
 * `tessera quantize <model> --scheme w4a4 --calib <text>`: an HF Llama checkpoint → a W4A4 (Atom)
 * checkpoint folder (layout in w4a4-source.ts) that `tessera run/serve` loads directly, its
 * projections running `atom_quantize` + `atom_matmul` on WebGPU.
 *
 * Calibration runs the float64 forward (fake-quant-forward.ts) over the calibration text in windows
 * of `ctx` tokens and records mean |x| per input channel at every activation site; the 128 largest
 * channels become the site's INT8 outlier group (atom-reorder.ts). Each projection's columns are
 * permuted into its site's order and encoded by the W4A4 encoder, so the checkpoint holds exactly
 * the weights the ablation's `w4a4` scheme fake-quantizes (bench/atom-ppl.ts).
 */
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { writeSafetensors, type TensorToWrite } from '../../io/safetensors-writer.js';
import { outlierPermutation, permuteColumns } from '../../quant/atom-reorder.js';
import { ATOM_GROUP, ATOM_OUTLIERS, quantizeW4a4Weights } from '../../quant/w4a4-format.js';
import { toHost } from '../../tensor/dtype.js';
import { calibrate, loadLlamaF64 } from './fake-quant-forward.js';
import { weightNames } from './graph.js';
import { openLlamaModel } from './llama-family.js';
import { SIDE_FILES } from './quantize-checkpoint.js';
import { ATOM_SITES, W4A4_SUFFIX, permTensorName, w4a4Projections, whyNotW4a4 } from './w4a4-source.js';

export interface W4a4QuantizeOptions {
  /** Calibration tokens used (from the start of the text); default 4096. */
  readonly calibTokens?: number;
  /** Window of the calibration forward; default 128. */
  readonly ctx?: number;
}

export interface W4a4QuantizeReport {
  readonly file: string;
  readonly calibTokens: number;
  readonly projections: number;
  readonly bytes: number;
}

export async function quantizeW4a4Checkpoint(
  modelDir: string,
  calibText: string,
  outDir: string,
  o: W4a4QuantizeOptions = {},
): Promise<W4a4QuantizeReport> {
  const opened = await openLlamaModel(modelDir);
  const dtypes = new Map([...opened.weights.tensors].map(([n, i]) => [n, i.dtype] as const));
  const format = opened.format;
  await opened.weights.close();
  if (format !== 'safetensors')
    throw new Error(`${modelDir}: W4A4 quantization reads an HF safetensors checkpoint, not ${format}`);
  const model = await loadLlamaF64(modelDir);
  const cfg = model.cfg;
  const why = whyNotW4a4(cfg);
  if (why) throw new Error(`${modelDir}: cannot be quantized to W4A4: ${why}`);
  const ctx = o.ctx ?? 128;
  const ids = model.encode(calibText).slice(0, o.calibTokens ?? 4096);
  if (ids.length < 2 * ctx)
    throw new Error(`--calib: ${ids.length} tokens, calibration needs at least ${2 * ctx} (two windows of ${ctx})`);
  const stats = calibrate(model, ids, ctx);
  const perms = new Map([...stats].map(([key, s]) => [key, outlierPermutation(s.mean())]));

  const projections = w4a4Projections(cfg);
  const tensors = new Map<string, TensorToWrite>();
  let bytes = 0;
  for (const name of weightNames(cfg)) {
    const w = model.w.get(name)!;
    const p = projections.get(name);
    if (!p) {
      const dtype = dtypes.get(name) ?? 'f32';
      tensors.set(name, { dtype, shape: opened.weights.tensors.get(name)!.shape, data: toHost(dtype, w) });
      continue;
    }
    const perm = perms.get(`${p.layer}.${p.site}`)!;
    const data = quantizeW4a4Weights(permuteColumns(w, p.n, p.k, perm), p.n, p.k);
    tensors.set(name + W4A4_SUFFIX, { dtype: 'u8', shape: [data.length], data });
    bytes += data.length;
  }
  for (let l = 0; l < cfg.numLayers; l++)
    for (const site of ATOM_SITES) {
      const perm = perms.get(`${l}.${site}`)!;
      tensors.set(permTensorName(l, site), { dtype: 'i32', shape: [perm.length], data: perm });
    }
  const description = {
    scheme: 'w4a4',
    layout: 'atom: 4-bit symmetric groups, the last group INT8 after the channel reordering (src/quant/w4a4-format.ts)',
    group: ATOM_GROUP,
    outliers: ATOM_OUTLIERS,
    sites: ATOM_SITES,
    calibration: { tokens: ids.length, window: ctx, statistic: 'mean |x| per channel' },
    source: modelDir,
  };
  await mkdir(outDir, { recursive: true });
  const file = join(outDir, 'model.safetensors');
  await writeSafetensors(file, tensors, { format: 'pt', 'tessera.quantization': JSON.stringify(description) });
  await copyFile(join(modelDir, 'config.json'), join(outDir, 'config.json'));
  for (const f of SIDE_FILES) if (existsSync(join(modelDir, f))) await copyFile(join(modelDir, f), join(outDir, f));
  await writeFile(join(outDir, 'quantization.json'), JSON.stringify(description, null, 2));
  return { file, calibTokens: ids.length, projections: projections.size, bytes };
}
