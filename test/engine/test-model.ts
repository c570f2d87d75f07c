/**
 * The model every engine and server test runs. Today: the toy runner over a tiny byte-level BPE
 * tokenizer. To run the suites on the real model, replace the body of `loadTestModel` with the
 * real loader (one line), keeping the page options.
 */
import { readFileSync } from 'node:fs';
import type { ModelRunner } from '../../src/engine/model-runner.js';
import type { EngineTokenizer } from '../../src/engine/tokenizer.js';
import { Tokenizer } from '../../src/io/tokenizer.js';
import { engineTokenizer } from '../../src/models/engine-tokenizer.js';
import { ToyRunner, type ToyRunnerOptions } from './toy-runner.js';

export interface TestModel {
  runner: ModelRunner;
  tokenizer: EngineTokenizer;
  modelName: string;
}

const fixture = (name: string) => JSON.parse(readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8'));

/** The tiny fixture through the same tokenizer the real loader uses (src/io, adapted by src/models). */
export function loadTestTokenizer(): EngineTokenizer {
  return engineTokenizer(
    Tokenizer.fromFiles({
      tokenizer: fixture('tiny-tokenizer.json'),
      config: fixture('tiny-tokenizer-config.json'),
      source: 'test/engine/fixtures',
    }),
  );
}

export async function loadTestModel(options: Partial<ToyRunnerOptions> = {}): Promise<TestModel> {
  const tokenizer = loadTestTokenizer();
  const { tokens } = tokenizer.vocabulary();
  // Specials and non-ASCII bytes are made rare so outputs read as ASCII and end by length, not EOS.
  const tokenBias: Record<number, number> = { 0: -30, 1: -30, 2: -30 };
  tokens.forEach((s, id) => {
    if (id > 2 && !/^[\x21-\x7eĠ]+$/.test(s)) tokenBias[id] = -8;
  });
  const runner = new ToyRunner({ vocabSize: tokens.length, tokenBias, ...options });
  return { runner, tokenizer, modelName: 'tessera-toy' };
}
