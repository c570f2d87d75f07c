/**
 * `tessera quantize <model> --scheme w4|w8 --out <dir>`: writes a quantized checkpoint that
 * `tessera run/serve <dir>` loads with its matrices kept quantized on the GPU. The main CLI calls
 * registerQuantizeCommand.
 */
import type { Command } from 'commander';
import { QUANTIZE_SCHEMES, type QuantizeScheme, quantizeLlamaCheckpoint } from '../models/llama/quantize-checkpoint.js';
import { builtinModelPath } from '../models/load-model.js';

export function registerQuantizeCommand(program: Command): void {
  program
    .command('quantize <model>')
    .description(
      "quantize a Llama-family HF checkpoint ('builtin' or a folder) into a GGUF folder that loads with its matrices kept quantized on the GPU",
    )
    .requiredOption(
      '--scheme <scheme>',
      'w8 (GGUF Q8_0, 8.5 bits/weight, near-lossless) or w4 (GGUF Q4_0, 4.5 bits/weight)',
    )
    .requiredOption('--out <dir>', 'folder to write (created if missing)')
    .action(async (model: string, opts: { scheme: string; out: string }) => {
      if (!(opts.scheme in QUANTIZE_SCHEMES))
        throw new Error(`--scheme must be one of ${Object.keys(QUANTIZE_SCHEMES).join(', ')}, got '${opts.scheme}'`);
      const dir = model === 'builtin' ? builtinModelPath() : model;
      const r = await quantizeLlamaCheckpoint(dir, opts.scheme as QuantizeScheme, opts.out, (name, i, total) => {
        if (process.stderr.isTTY) process.stderr.write(`\rquantizing ${i + 1}/${total} ${name.padEnd(32)}`);
      });
      if (process.stderr.isTTY) process.stderr.write('\n');
      console.log(
        `${r.file}: ${r.tensors} tensors, ${(r.bytes / 2 ** 20).toFixed(1)} MiB, matrices ${r.ggmlType}${r.copied.length ? `; copied ${r.copied.join(', ')}` : ''}`,
      );
    });
}
