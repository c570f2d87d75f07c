/**
 * Tokenizer glue on the small hand-made byte-level BPE of test/io/hand-made-tokenizer.ts (ids:
 * 0…255 bytes, then six merges, then <s>, </s>, <|end|>): BOS/EOS policy, stop ids, vocabulary
 * kind, decode range checks, chat template selection and loading from a file path. Expected ids
 * are read off the hand-written vocabulary.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CheckpointError } from '../../src/io/errors.js';
import { Tokenizer, loadTokenizer } from '../../src/io/tokenizer.js';
import { handMadeTokenizer } from './hand-made-tokenizer.js';
import { tempFolder } from './helpers.js';

const json = handMadeTokenizer();
const n = Object.keys(json.model.vocab).length; // 262: <s> = n, </s> = n + 1, <|end|> = n + 2
const make = (
  config?: Record<string, unknown>,
  generationConfig?: Record<string, unknown>,
  tokenizer: unknown = json,
) => Tokenizer.fromFiles({ tokenizer, config, generationConfig, source: 'hand-made' });
const h = 'h'.charCodeAt(0);
const i = 'i'.charCodeAt(0);

describe('BOS / EOS policy', () => {
  it('the post-processor adds <s> once; add_bos_token false does not remove it; add_eos_token appends </s> once', () => {
    expect(make({ bos_token: '<s>' }).encode('hi')).toEqual([n, h, i]);
    expect(make({ bos_token: '<s>', add_bos_token: false }).encode('hi')).toEqual([n, h, i]);
    expect(make({ bos_token: '<s>', eos_token: '</s>', add_eos_token: true }).encode('hi')).toEqual([n, h, i, n + 1]);
    expect(make({ bos_token: '<s>', eos_token: '</s>', add_eos_token: true }).encode('hi</s>')).toEqual([
      n,
      h,
      i,
      n + 1,
    ]);
    expect(
      make({ bos_token: '<s>', eos_token: '</s>', add_eos_token: true }).encode('hi', { addSpecialTokens: false }),
    ).toEqual([h, i]);
    expect(make({ eos_token: '</s>' }).encode('hi')).toEqual([n, h, i]);
  });
  it('addBos follows add_bos_token, else whether a BOS token exists; addEos only when asked', () => {
    expect(make({ bos_token: '<s>' }).addBos).toBe(true);
    expect(make({}).addBos).toBe(false);
    expect(make({ bos_token: '<s>', add_bos_token: false }).addBos).toBe(false);
    expect(make({ add_bos_token: true }).addBos).toBe(true);
    expect(make({ eos_token: '</s>' }).addEos).toBe(false);
    expect(make({ eos_token: '</s>', add_eos_token: 'yes' }).addEos).toBe(false);
  });
  it('reads special tokens as strings or {content} objects; pad too', () => {
    const t = make({
      bos_token: { content: '<s>' },
      eos_token: '</s>',
      pad_token: { content: '<|end|>', special: true },
      unk_token: 5,
    });
    expect([t.bosTokenId, t.eosTokenId, t.padTokenId]).toEqual([n, n + 1, n + 2]);
    expect(make({ bos_token: { id: 3 } }).bosTokenId).toBeNull();
    expect(() => make({ pad_token: '<pad>' })).toThrow("pad_token '<pad>' is not in the vocabulary");
  });
});

describe('stop tokens', () => {
  it('EOS, generation_config ids (one or a list) and special end-of-turn tokens', () => {
    expect([...make({ eos_token: '</s>' }).stopTokenIds].sort()).toEqual([n + 1, n + 2]);
    expect([...make({}).stopTokenIds]).toEqual([n + 2]);
    expect([...make({}, { eos_token_id: 7 }).stopTokenIds].sort((a, b) => a - b)).toEqual([7, n + 2]);
    expect([...make({}, { eos_token_id: [0, n + 1] }).stopTokenIds].sort((a, b) => a - b)).toEqual([0, n + 1, n + 2]);
    expect([...make({}, { eos_token_id: null }).stopTokenIds]).toEqual([n + 2]);
  });
  it('rejects generation_config ids outside the vocabulary or not integers', () => {
    for (const bad of [-1, n + 3, 1.5, '7']) {
      expect(() => make({}, { eos_token_id: bad }), String(bad)).toThrow(CheckpointError);
      expect(() => make({}, { eos_token_id: bad })).toThrow(
        `generation_config eos_token_id ${JSON.stringify(bad)} is not a token id`,
      );
    }
    expect(make({}, { eos_token_id: n + 2 }).stopTokenIds.has(n + 2)).toBe(true);
  });
  it('special ids are the added tokens marked special', () => {
    expect([...make({}).specialTokenIds].sort()).toEqual([n, n + 1, n + 2]);
  });
});

describe('vocabulary', () => {
  it('size is the largest id + 1, strings in id order', () => {
    const t = make({});
    expect(t.vocabSize).toBe(n + 3);
    const v = t.vocabulary();
    expect(v).toHaveLength(n + 3);
    expect([v[h], v[n - 1], v[n], v[n + 2]]).toEqual(['h', 'Ġthe', '<s>', '<|end|>']);
    expect(t.idToToken(n + 1)).toBe('</s>');
    expect(t.tokenToId('hello')).toBe(259);
    expect(t.tokenToId('nope')).toBeUndefined();
  });
  it('kind: byte_level from a ByteLevel decoder (alone or in a sequence), byte_fallback, else raw', () => {
    expect(make({}).vocabularyKind).toBe('byte_level');
    expect(
      make({}, undefined, {
        ...json,
        decoder: {
          type: 'Sequence',
          decoders: [{ type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true }],
        },
      }).vocabularyKind,
    ).toBe('byte_level');
    expect(
      make({}, undefined, {
        ...json,
        decoder: { type: 'Sequence', decoders: [{ type: 'ByteFallback' }, { type: 'Fuse' }] },
      }).vocabularyKind,
    ).toBe('byte_fallback');
    expect(
      make({}, undefined, { ...json, decoder: null, model: { ...json.model, byte_fallback: true } }).vocabularyKind,
    ).toBe('byte_fallback');
    expect(make({}, undefined, { ...json, decoder: { type: 'Fuse' } }).vocabularyKind).toBe('raw');
  });
});

describe('decode', () => {
  it('refuses ids outside the vocabulary, naming the range; empty input is empty text', () => {
    const t = make({});
    for (const bad of [-1, n + 3, 2.5, NaN])
      expect(() => t.decode([h, bad])).toThrow(`decode: token id ${bad} is outside the vocabulary (0..${n + 2})`);
    expect(t.decode([])).toBe('');
    expect(t.decode([n + 2])).toBe('<|end|>');
    expect(t.decode([n + 2, h], { skipSpecialTokens: true })).toBe('h');
  });
  it('cleans up tokenization spaces as the config says, unless told', () => {
    const ids = make({}).encode('a , b .', { addSpecialTokens: false });
    expect(make({}).decode(ids)).toBe('a , b .');
    expect(make({ clean_up_tokenization_spaces: true }).decode(ids)).toBe('a, b.');
    expect(make({ clean_up_tokenization_spaces: true }).decode(ids, { cleanUpTokenizationSpaces: false })).toBe(
      'a , b .',
    );
    expect(make({}).decode(ids, { cleanUpTokenizationSpaces: true })).toBe('a, b.');
  });
  it('the stream decoder adds up to decode without cleanup, special tokens kept unless skipped', () => {
    const t = make({ clean_up_tokenization_spaces: true });
    const ids = [n, ...t.encode('hé , the', { addSpecialTokens: false })];
    const keep = t.streamDecoder();
    const skip = t.streamDecoder({ skipSpecialTokens: true });
    let a = '';
    let b = '';
    for (const id of ids) {
      a += keep.push(id);
      b += skip.push(id);
    }
    expect(a + keep.flush()).toBe('<s>hé , the');
    expect(b + skip.flush()).toBe('hé , the');
  });
});

describe('chat templates', () => {
  const msgs = [{ role: 'user' as const, content: 'hi' }];
  it('tools: a tool_use template wins when tools are given; a template mentioning tools renders them', () => {
    const t = make({
      chat_template: [
        { name: 'default', template: 'D{{ messages[0].content }}' },
        { name: 'tool_use', template: 'T{{ tools | length }}' },
      ],
    });
    expect(t.chatTemplateNames.sort()).toEqual(['default', 'tool_use']);
    expect(t.templateSupportsTools).toBe(true);
    expect(t.applyChatTemplate(msgs)).toBe('Dhi');
    expect(t.applyChatTemplate(msgs, { tools: [{}, {}] })).toBe('T2');
    expect(t.applyChatTemplate(msgs, { templateName: 'default', tools: [] })).toBe('Dhi');
    expect(make({ chat_template: '{% if tools %}x{% endif %}' }).templateSupportsTools).toBe(true);
    expect(make({ chat_template: '{{ messages[0].content }}' }).templateSupportsTools).toBe(false);
    expect(make({ chat_template: '{{ messages[0].content }}' }).applyChatTemplate(msgs, { tools: [] })).toBe('hi');
  });
  it('encodeChat tokenizes the rendered text without adding <s> again', () => {
    const t = make({ bos_token: '<s>', chat_template: '{{ bos_token }}{{ messages[0].content }}' });
    expect(t.encodeChat(msgs)).toEqual([n, h, i]);
  });
  it('names the templates it has when asked for another', () => {
    const t = make({
      chat_template: [
        { name: 'default', template: 'x' },
        { name: 'rag', template: 'y' },
      ],
    });
    expect(() => t.applyChatTemplate(msgs, { templateName: 'tool_use' })).toThrow(
      "no chat template named 'tool_use' (this tokenizer has 'default', 'rag')",
    );
  });
});

describe('loading', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });
  it('given the tokenizer.json path, reads the config files beside it', async () => {
    const d = await tempFolder();
    dirs.push(d);
    await writeFile(join(d, 'tokenizer.json'), JSON.stringify(json));
    await writeFile(join(d, 'tokenizer_config.json'), JSON.stringify({ eos_token: '</s>' }));
    const t = await loadTokenizer(join(d, 'tokenizer.json'));
    expect(t.eosTokenId).toBe(n + 1);
  });
  it('a missing path or unreadable config is a CheckpointError naming it', async () => {
    const d = await tempFolder();
    dirs.push(d);
    await expect(loadTokenizer(join(d, 'nowhere'))).rejects.toThrow(/nowhere.*cannot open/);
    await writeFile(join(d, 'tokenizer.json'), JSON.stringify(json));
    await mkdir(join(d, 'tokenizer_config.json'));
    await expect(loadTokenizer(d)).rejects.toThrow(/tokenizer_config.json.*cannot read/);
  });
  it('a tokenizer.json that is not an object is refused before the library sees it', () => {
    expect(() => make({}, undefined, null)).toThrow('tokenizer.json has no "model" object');
    expect(() => make({}, undefined, { model: null })).toThrow(/no "model" object/);
    expect(() => make({}, undefined, 'x')).toThrow(/no "model" object/);
  });
});
