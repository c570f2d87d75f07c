/**
 * `tessera run <model> "prompt"` and `tessera chat <model>`: generation from the command line,
 * with a progress bar while weights load. `builtin` (or no model) is the built-in model.
 */
import { LONG_CONTEXT_FLAG_HELP, parseLongContextFlag } from './long-context-flag.js';
import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import type { ChatMessage } from '../io/chat-template.js';
import { Engine } from '../engine/engine.js';
import { type GenerateOptions, TesseraModel } from '../models/load-model.js';
import { loadRunnerWithProgress } from './load.js';
import { KV_CACHE_HELP, parseKvCache } from './kv-cache-flag.js';

interface SamplingFlags {
  /** `--long-context`: the engine's long-context mode (long-context-flag.ts). */
  longContext?: string;
  maxTokens: string;
  temperature: string;
  topK: string;
  topP: string;
  minP: string;
  repetitionPenalty: string;
  seed?: string;
  stop?: string[];
  backend?: string;
  kvCache?: string;
}

function samplingOptions(f: SamplingFlags): GenerateOptions {
  return {
    maxTokens: Number(f.maxTokens),
    temperature: Number(f.temperature),
    topK: Number(f.topK),
    topP: Number(f.topP),
    minP: Number(f.minP),
    repetitionPenalty: Number(f.repetitionPenalty),
    ...(f.seed !== undefined ? { seed: Number(f.seed) } : {}),
    ...(f.stop ? { stop: f.stop } : {}),
  };
}

function withSamplingFlags(cmd: Command): Command {
  return cmd
    .option('-n, --max-tokens <n>', 'tokens to generate', '128')
    .option('-t, --temperature <t>', '0 is greedy', '0.8')
    .option('--top-k <k>', '0 turns it off', '0')
    .option('--top-p <p>', '1 turns it off', '0.95')
    .option('--min-p <p>', '0 turns it off', '0')
    .option('--repetition-penalty <r>', '1 turns it off', '1.1')
    .option('--seed <seed>', 'fixes the random stream')
    .option('--stop <text...>', 'stop before any of these strings')
    .option('--backend <name>', 'webgpu, cpu or auto (default: $TESSERA_BACKEND, else auto)')
    .option('--kv-cache <dtype>', KV_CACHE_HELP, 'f16')
    .option('--long-context <spec>', LONG_CONTEXT_FLAG_HELP);
}

/** Loads a model (with the CLI's progress bar) and puts the serving engine over it. */
async function loadWithProgress(modelPath: string | undefined, f: SamplingFlags): Promise<TesseraModel> {
  const kvCache = parseKvCache(f.kvCache);
  const longContext = f.longContext ? parseLongContextFlag(f.longContext) : undefined;
  const { name, config, runner, tokenizer } = await loadRunnerWithProgress(
    modelPath,
    f.backend,
    undefined,
    kvCache ? { kvCache } : {},
  );
  return new TesseraModel(
    name,
    config,
    runner,
    tokenizer,
    new Engine(runner, tokenizer, {
      maxBatchTokens: runner.maxTokens,
      maxRunningSeqs: runner.maxSeqs,
      ...(longContext ? { longContext } : {}),
    }),
  );
}

export function registerRunCommands(program: Command): void {
  withSamplingFlags(program.command('run').description('generate a continuation of a prompt'))
    .argument('<model>', "HF folder, .gguf file, or 'builtin'")
    .argument('<prompt>', 'the text to continue')
    .action(async (modelPath: string, prompt: string, f: SamplingFlags) => {
      const model = await loadWithProgress(modelPath, f);
      process.stdout.write(prompt);
      for await (const text of model.generate(prompt, samplingOptions(f))) process.stdout.write(text);
      process.stdout.write('\n');
      await model.close();
    });

  withSamplingFlags(program.command('chat').description("chat interactively using the model's chat template"))
    .argument('[model]', "HF folder, .gguf file, or 'builtin'", 'builtin')
    .option('--system <text>', 'a system message')
    .action(async (modelPath: string, f: SamplingFlags & { system?: string }) => {
      const model = await loadWithProgress(modelPath, f);
      const messages: ChatMessage[] = f.system ? [{ role: 'system', content: f.system }] : [];
      const rl = createInterface({ input: process.stdin, output: process.stdout });
      console.log('(empty line or Ctrl-D to quit)');
      try {
        for (;;) {
          const line = await rl.question('> ').catch(() => '');
          if (!line.trim()) break;
          messages.push({ role: 'user', content: line });
          let reply = '';
          for await (const text of model.generate(messages, samplingOptions(f))) {
            reply += text;
            process.stdout.write(text);
          }
          process.stdout.write('\n');
          messages.push({ role: 'assistant', content: reply });
        }
      } finally {
        rl.close();
        await model.close();
      }
    });
}
