/**
 * Incremental detokenization as the engine wires it (`streamDecoderFor`: the io StreamDecoder over
 * the tokenizer's decode with special tokens skipped) against small hand-made tokenizers whose decode rules are spelled
 * out here: a byte-level one (token = one UTF-8 byte, so characters span tokens) and a
 * SentencePiece-like one that drops the leading space of a decoded piece. Expected deltas are
 * written by hand.
 */
import { describe, expect, it } from 'vitest';
import { streamDecoderFor } from '../../src/engine/sequence.js';

/** Token id = byte value; id 256 is a special token, which the detokenizer must ask to skip. */
const bytes = {
  decode(ids: readonly number[], options?: { skipSpecialTokens?: boolean }): string {
    if (ids.includes(256) && !options?.skipSpecialTokens) return '<eos>';
    return new TextDecoder().decode(Uint8Array.from(ids.filter((id) => id < 256)));
  },
};
const utf8 = (s: string) => Array.from(new TextEncoder().encode(s));

/** Pieces with '▁' for a space; a decode drops the space at its very start. */
const pieces = ['▁hello', '▁world', '!', 'ab', '▁'];
const sentencePiece = {
  decode: (ids: readonly number[]) =>
    ids
      .map((id) => pieces[id]!)
      .join('')
      .replaceAll('▁', ' ')
      .replace(/^ /, ''),
};

describe('incremental detokenizer', () => {
  it('ASCII: each token yields its character at once', () => {
    const d = streamDecoderFor(bytes);
    expect(utf8('hi!').map((id) => d.push(id))).toEqual(['h', 'i', '!']);
    expect(d.flush()).toBe('');
  });

  it('a character split over tokens is held back until complete', () => {
    const d = streamDecoderFor(bytes);
    // '€' is E2 82 AC; '😀' is F0 9F 98 80
    expect(utf8('a€b😀').map((id) => d.push(id))).toEqual(['a', '', '', '€', 'b', '', '', '', '😀']);
    expect(d.flush()).toBe('');
  });

  it('flush releases an incomplete trailing character as the tokenizer decodes it, then nothing', () => {
    const d = streamDecoderFor(bytes);
    expect(d.push(0x61)).toBe('a');
    expect(d.push(0xe2)).toBe('');
    expect(d.push(0x82)).toBe('');
    expect(d.flush()).toBe('\uFFFD');
    expect(d.flush()).toBe('');
    expect(d.push(0x62)).toBe('b');
  });

  it('asks the tokenizer to skip special tokens', () => {
    const d = streamDecoderFor(bytes);
    expect(d.push(0x61)).toBe('a');
    expect(d.push(256)).toBe('');
    expect(d.push(0x62)).toBe('b');
  });

  it('keeps the space a piece loses when decoded alone', () => {
    const d = streamDecoderFor(sentencePiece);
    // the lone '▁' decodes to ' ' after 'ab'; the next 'ab' then starts a window where '▁' alone is ''
    expect([0, 1, 2, 3, 4, 3].map((id) => d.push(id))).toEqual(['hello', ' world', '!', 'ab', ' ', 'ab']);
    expect(d.flush()).toBe('');
  });

  it('the deltas and the flush always add up to the full decode', () => {
    const text = 'Zürich → 東京 🚀 ok';
    const d = streamDecoderFor(bytes);
    const out =
      utf8(text)
        .map((id) => d.push(id))
        .join('') + d.flush();
    expect(out).toBe(text);
  });
});
