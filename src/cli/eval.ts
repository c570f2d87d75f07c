/**
 * `tessera eval ppl <model> --text <file>`: perplexity of a text under a quantization scheme, run as
 * float64 fake quantization on the CPU (src/models/llama/fake-quant-forward.ts): the accuracy of
 * the scheme itself, the figure Atom's ablation reports. The main CLI calls registerEvalCommands.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import {
  FakeQuantLlama,
  PPL_SCHEMES,
  type PplScheme,
  calibrate,
  loadLlamaF64,
  perplexity,
  smoothingOf,
} from '../models/llama/fake-quant-forward.js';
import { builtinModelPath } from '../models/load-model.js';
import { outlierPermutation } from '../quant/atom-reorder.js';

const KV = { int8: 8, int4: 4 } as const;

interface PplOptions {
  text: string;
  scheme: string;
  calib?: string;
  kvCache?: string;
  ctx: string;
  maxTokens?: string;
}

async function evalPpl(modelArg: string, o: PplOptions): Promise<void> {
  if (!(PPL_SCHEMES as readonly string[]).includes(o.scheme))
    throw new Error(`--scheme must be one of ${PPL_SCHEMES.join(', ')}, got '${o.scheme}'`);
  if (o.kvCache !== undefined && !(o.kvCache in KV))
    throw new Error(`--kv-cache must be int8 or int4, got '${o.kvCache}'`);
  if (o.calib && o.scheme !== 'w4a4' && o.scheme !== 'w8a8')
    throw new Error('--calib is for --scheme w4a4 (channel reordering) or w8a8 (SmoothQuant factors) only');
  const model = await loadLlamaF64(modelArg === 'builtin' ? builtinModelPath() : modelArg);
  const ctx = Number(o.ctx);
  if (!(ctx >= 2 && ctx <= model.cfg.maxPositionEmbeddings))
    throw new Error(`--ctx must be 2..${model.cfg.maxPositionEmbeddings}, got ${o.ctx}`);
  let ids = model.encode(readFileSync(o.text, 'utf8'));
  if (o.maxTokens) ids = ids.slice(0, Number(o.maxTokens));
  const stats = o.calib ? calibrate(model, model.encode(readFileSync(o.calib, 'utf8')), ctx) : undefined;
  const perms =
    stats && o.scheme === 'w4a4' ? new Map([...stats].map(([k, s]) => [k, outlierPermutation(s.mean())])) : undefined;
  const smooth = stats && o.scheme === 'w8a8' ? smoothingOf(model, stats) : undefined;
  const kvBits = o.kvCache ? KV[o.kvCache as keyof typeof KV] : null;
  const fq = new FakeQuantLlama(model, {
    scheme: o.scheme as PplScheme,
    kvBits,
    ...(perms ? { perms } : {}),
    ...(smooth ? { smooth } : {}),
  });
  const r = perplexity(fq, ids, ctx);
  console.log(
    `perplexity ${r.ppl.toFixed(4)} (mean NLL ${r.nll.toFixed(5)} over ${r.tokens} predicted tokens, windows of ${ctx}; scheme ${o.scheme}${perms ? ' reordered' : ''}${smooth ? ' smoothed' : ''}${kvBits ? `, KV int${kvBits}` : ''})`,
  );
}

export function registerEvalCommands(program: Command): void {
  const evalCmd = program.command('eval').description('evaluate a model');
  evalCmd
    .command('ppl <model>')
    .description(
      "perplexity of a text ('builtin' or a Llama-family folder) under a quantization scheme, as float64 fake quantization on the CPU",
    )
    .requiredOption('--text <file>', 'the text to evaluate (UTF-8)')
    .option(
      '--scheme <scheme>',
      'fp, w4a16 (w4 weights, group 128), w4a4 (Atom: 4-bit groups, the last 128 channels INT8), w4a4-no-outliers or w8a8 (INT8 weights per channel, activations per token)',
      'fp',
    )
    .option(
      '--calib <file>',
      'calibration text; w4a4: its mean |activation| per channel picks the 128 INT8 channels; w8a8: its max |activation| per channel gives the SmoothQuant factors',
    )
    .option('--kv-cache <bits>', 'int8 or int4: the KV cache quantized per token and head')
    .option('--ctx <n>', 'window length (non-overlapping windows)', '256')
    .option('--max-tokens <n>', 'evaluate only the first n tokens')
    .action((model: string, o: PplOptions) => evalPpl(model, o));
}
