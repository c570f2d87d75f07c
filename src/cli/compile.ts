/**
 * `tessera compile …`: runs the Relax-style compiler on a demo model or a checkpoint's decoder and shows what it did.
 *
 *   tessera compile --print llama-block          # IR before and after every pass
 *   tessera compile --print --pass fuse mlp      # only the text after one pass
 *   tessera compile --no-fuse --wgsl mlp         # generated WGSL of every tensor program
 *   tessera compile --no-fuse --js mlp           # the JavaScript the CPU backend runs for each
 *
 * The main CLI calls registerCompileCommands.
 */
import type { Command } from 'commander';
import { compileModule } from '../compiler/compile.js';
import { DEMO_MODELS } from '../compiler/demo-models.js';
import { allBindings } from '../ir/graph.js';
import { isView, planBytes } from '../compiler/passes/plan-memory.js';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { IRModule } from '../ir/graph.js';
import { parseLlamaConfig } from '../models/llama/llama-config.js';
import { llamaModule } from '../models/llama/graph.js';
import { builtinModelPath } from '../models/load-model.js';

export interface CompileCommandOptions {
  readonly print?: boolean;
  readonly pass?: string;
  readonly fuse?: boolean;
  readonly wgsl?: boolean;
  readonly js?: boolean;
}

/** A Llama-family checkpoint folder (or 'builtin') as the decoder graph Tessera serves it with. */
function checkpointModule(model: string): (() => IRModule) | undefined {
  const dir = model === 'builtin' ? builtinModelPath() : model;
  if (!existsSync(join(dir, 'config.json'))) return undefined;
  const cfg = parseLlamaConfig(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')), join(dir, 'config.json'));
  return () => llamaModule(cfg, { maxTokens: 512, maxSeqs: 64, weightDtype: 'bf16', actDtype: 'f16' });
}

export const PASS_NAMES = ['input', 'normalize', 'legalize', 'fuse', 'dead-code', 'schedule', 'plan-memory'] as const;

/** The command's output text (kept apart from commander so tests can call it). */
export function compileCommandText(model: string, opts: CompileCommandOptions = {}): string {
  const make = DEMO_MODELS[model] ?? checkpointModule(model);
  if (!make)
    throw new Error(
      `unknown model '${model}' (built-in: ${Object.keys(DEMO_MODELS).join(', ')}, 'builtin', or an HF model folder)`,
    );
  if (opts.pass !== undefined && !(PASS_NAMES as readonly string[]).includes(opts.pass))
    throw new Error(`unknown pass '${opts.pass}' (passes: ${PASS_NAMES.join(', ')})`);
  const out: string[] = [];
  const printing = opts.print === true || opts.pass !== undefined;
  const { executable, module, plans } = compileModule(make(), {
    fuse: opts.fuse !== false,
    trace: (pass, text) => {
      if (!printing || (opts.pass !== undefined && pass !== opts.pass)) return;
      out.push(`;; ==== after ${pass} ====`, text);
    },
  });
  if (opts.wgsl) for (const [name, p] of executable.programs) out.push(`;; ==== WGSL of @${name} ====`, p.wgsl.wgsl);
  if (opts.js)
    for (const [name, p] of executable.programs)
      out.push(`;; ==== JavaScript of @${name} (dims: ${p.js.dims.join(', ') || 'none'}) ====`, p.js.source);
  for (const [name, f] of module.funcs) {
    const calls = { kernel: 0, tir: 0, host: 0, view: 0 };
    for (const b of allBindings(f))
      if (b.value.k === 'call' && b.value.kind !== 'op') calls[isView(b.value) ? 'view' : b.value.kind]++;
    const plan = plans.get(name)!;
    out.push(
      `;; @${name}: ${calls.kernel} library kernel call(s), ${calls.tir} tensor program call(s), ${calls.host} host call(s), ${calls.view} view(s); ` +
        `${module.programs.size} distinct tensor program(s); ${plan.tokens.length} storage token(s), ${planBytes(plan)} bytes planned at ${JSON.stringify(f.upper)}`,
    );
  }
  return out.join('\n');
}

export function registerCompileCommands(program: Command): void {
  program
    .command('compile')
    .description('compile a model and show the IR the passes produce')
    .argument(
      '<model>',
      `one of ${Object.keys(DEMO_MODELS).join(', ')}, 'builtin', or an HF model folder (its decoder step graph)`,
    )
    .option('--print', 'print the IR before and after each pass')
    .option('--pass <name>', `print only the IR after this pass (${PASS_NAMES.join(', ')})`)
    .option('--no-fuse', 'skip fusion (the baseline the fusion bench compares with)')
    .option('--wgsl', 'print the generated WGSL of every tensor program')
    .option('--js', 'print the generated JavaScript (the CPU backend runs it) of every tensor program')
    .action(function (this: Command, model: string, opts: CompileCommandOptions) {
      try {
        console.log(compileCommandText(model, opts));
      } catch (e) {
        this.error(`error: ${(e as Error).message}`);
      }
    });
}
