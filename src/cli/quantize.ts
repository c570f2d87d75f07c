/**
 * `tessera quantize <model> --scheme w4|w8|q4km|w4a4 --out <dir> [--calib <text file>]`: writes a
 * quantized checkpoint that `tessera run/serve <dir>` loads with its matrices kept quantized on
 * the GPU. w8/w4/q4km are GGUF Q8_0/Q4_0/Q4_K_M (quantize-checkpoint.ts); w4a4 is Atom's layout in safetensors,
 * calibrated on the given text (w4a4-checkpoint.ts). The main CLI calls registerQuantizeCommand.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { QUANTIZE_SCHEMES, type QuantizeScheme, quantizeLlamaCheckpoint } from '../models/llama/quantize-checkpoint.js';
import { quantizeW4a4Checkpoint } from '../models/llama/w4a4-checkpoint.js';
import { builtinModelPath } from '../models/load-model.js';

const SCHEMES = [...Object.keys(QUANTIZE_SCHEMES), 'w4a4'];

export function registerQuantizeCommand(program: Command): void {
  program
    .command('quantize <model>')
    .description(
      "quantize a Llama-family HF checkpoint ('builtin' or a folder) into a folder that loads with its matrices kept quantized on the GPU",
    )
    .requiredOption(
      '--scheme <scheme>',
      "w8 (GGUF Q8_0, 8.5 bits/weight, near-lossless), w4 (GGUF Q4_0, 4.5 bits/weight), q4km (GGUF Q4_K_M: llama.cpp's mix of Q4_K and Q6_K, about 4.9 bits/weight) or w4a4 (Atom: 4-bit weights and activations, 128 INT8 outlier channels; needs --calib)",
    )
    .requiredOption('--out <dir>', 'folder to write (created if missing)')
    .option('--calib <file>', 'w4a4: calibration text (plain text; its first --calib-tokens tokens are used)')
    .option('--calib-tokens <n>', 'w4a4: calibration tokens', '4096')
    .action(async (model: string, opts: { scheme: string; out: string; calib?: string; calibTokens: string }) => {
      if (!SCHEMES.includes(opts.scheme))
        throw new Error(`--scheme must be one of ${SCHEMES.join(', ')}, got '${opts.scheme}'`);
      const dir = model === 'builtin' ? builtinModelPath() : model;
      if (opts.scheme === 'w4a4') {
        if (!opts.calib)
          throw new Error('--scheme w4a4 needs --calib <text file> (the outlier channels are calibrated)');
        const r = await quantizeW4a4Checkpoint(dir, readFileSync(opts.calib, 'utf8'), opts.out, {
          calibTokens: Number(opts.calibTokens),
        });
        console.log(
          `${r.file}: ${r.projections} projections in W4A4 (${(r.bytes / 2 ** 20).toFixed(1)} MiB), calibrated on ${r.calibTokens} tokens`,
        );
        return;
      }
      const r = await quantizeLlamaCheckpoint(dir, opts.scheme as QuantizeScheme, opts.out, (name, i, total) => {
        if (process.stderr.isTTY) process.stderr.write(`\rquantizing ${i + 1}/${total} ${name.padEnd(32)}`);
      });
      if (process.stderr.isTTY) process.stderr.write('\n');
      console.log(
        `${r.file}: ${r.tensors} tensors, ${(r.bytes / 2 ** 20).toFixed(1)} MiB, matrices ${r.ggmlType}${r.copied.length ? `; copied ${r.copied.join(', ')}` : ''}`,
      );
    });
}
