/**
 * Incremental detokenization for streaming: turns token ids arriving one by one into text deltas
 * that are always whole characters.
 *
 * Decoding token by token breaks in two ways: byte-level BPE splits a multi-byte character over
 * several tokens (each alone decodes to U+FFFD), and SentencePiece decoders drop or add a leading
 * space depending on what precedes. So each step decodes a short window twice — the tokens already
 * emitted since `prefix` and the same plus the new ones — and emits the difference only once it no
 * longer ends in a partial character. The window then slides, so each step costs O(window).
 */

/** The decode function of a tokenizer, without tokenization-space cleanup (it is not prefix-stable). */
export type DecodeFn = (ids: readonly number[]) => string;

/**
 * A character split over more tokens than this is taken as a genuinely invalid sequence (the
 * model produced bytes that are not UTF-8): emit it as U+FFFD rather than wait forever. A UTF-8
 * character has at most 4 bytes, so 4 byte tokens plus slack.
 */
const MAX_PENDING = 6;

export class StreamDecoder {
  private readonly ids: number[] = [];
  private prefix = 0;
  private read = 0;

  constructor(private readonly decode: DecodeFn) {}

  /** Adds one token; returns the text it completes ('' while a character is still partial). */
  push(id: number): string {
    this.ids.push(id);
    const before = this.decode(this.ids.slice(this.prefix, this.read));
    const after = this.decode(this.ids.slice(this.prefix));
    const pending = this.ids.length - this.read;
    const complete = after.length > before.length && after.startsWith(before) && !endsInPartial(after);
    if (!complete && pending < MAX_PENDING) return '';
    // Forced out (or complete): emit what extends the emitted text.
    const delta = after.startsWith(before) ? after.slice(before.length) : after.slice(commonPrefix(before, after));
    this.prefix = this.read;
    this.read = this.ids.length;
    return delta;
  }

  /** Text still held back at the end of generation (a trailing partial character becomes U+FFFD). */
  flush(): string {
    if (this.read === this.ids.length) return '';
    const before = this.decode(this.ids.slice(this.prefix, this.read));
    const after = this.decode(this.ids.slice(this.prefix));
    this.prefix = this.read;
    this.read = this.ids.length;
    return after.slice(commonPrefix(before, after));
  }

  /** All ids pushed so far. */
  get tokens(): readonly number[] {
    return this.ids;
  }
}

function endsInPartial(text: string): boolean {
  if (text.endsWith('\uFFFD')) return true;
  const last = text.charCodeAt(text.length - 1);
  return last >= 0xd800 && last <= 0xdbff; // a high surrogate waiting for its pair
}

function commonPrefix(a: string, b: string): number {
  let i = 0;
  while (i < a.length && i < b.length && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  return i;
}
