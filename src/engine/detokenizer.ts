/**
 * Incremental detokenization: turns a growing list of token ids into text deltas.
 *
 * Decoding token by token is wrong for byte-level BPE (one character can span tokens) and for
 * tokenizers that drop a leading space when a piece is decoded alone. So each delta is the
 * difference between decoding a short window that ends at the new token and the same window
 * without it; a delta ending in U+FFFD (an incomplete UTF-8 sequence) is held back. The window
 * only moves past text that decoded cleanly, so the shorter decode is a prefix of the longer.
 */
import type { EngineTokenizer } from './tokenizer.js';

export class IncrementalDetokenizer {
  private readonly ids: number[] = [];
  private prefixOffset = 0;
  private readOffset = 0;

  constructor(private readonly tokenizer: Pick<EngineTokenizer, 'decode'>) {}

  /** Appends one token; returns the text it completes (often '', sometimes several characters). */
  push(id: number): string {
    this.ids.push(id);
    const prefix = this.decode(this.prefixOffset, this.readOffset);
    const full = this.decode(this.prefixOffset, this.ids.length);
    if (full.length > prefix.length && !full.endsWith('\uFFFD')) {
      this.prefixOffset = this.readOffset;
      this.readOffset = this.ids.length;
      return full.slice(prefix.length);
    }
    return '';
  }

  /** Text still held back (an incomplete character at the end), emitted as-is when generation ends. */
  flush(): string {
    if (this.readOffset === this.ids.length) return '';
    const prefix = this.decode(this.prefixOffset, this.readOffset);
    const full = this.decode(this.prefixOffset, this.ids.length);
    this.prefixOffset = this.readOffset = this.ids.length;
    return full.slice(prefix.length);
  }

  private decode(from: number, to: number): string {
    return from >= to ? '' : this.tokenizer.decode(this.ids.slice(from, to), { skipSpecialTokens: true });
  }
}
