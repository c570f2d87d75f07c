/**
 * Tokenizing prompts without letting a huge one stall the server.
 *
 * First a length check on the raw text: no token covers more characters than the longest
 * vocabulary string (byte-level vocabularies spell each byte as one character, and a character is
 * at least one byte), so text longer than that bound × the context cannot fit and is refused
 * without tokenizing it. Text that may fit but is long is tokenized in slices with a yield to the
 * event loop between them, so other requests (and `/health`) are served meanwhile. Slices end
 * after a newline that a letter follows: the byte-level pre-tokenizers (GPT-2, Llama 3 and kin)
 * always split there, so the slices' tokens are exactly the whole text's. Other tokenizers
 * (SentencePiece-style, which prepend a marker to every encoded string) are encoded in one go,
 * bounded by the length check.
 */
import type { EngineTokenizer } from '../engine/tokenizer.js';
import { ApiError } from './errors.js';

/** Characters per slice: a few milliseconds of tokenization. */
const SLICE_CHARS = 16_384;

export class PromptEncoder {
  private info: { maxTokenChars: number; sliceable: boolean } | null = null;

  constructor(
    private readonly tokenizer: EngineTokenizer,
    private readonly maxContext: number,
  ) {}

  private vocabularyInfo(): { maxTokenChars: number; sliceable: boolean } {
    if (!this.info) {
      const { tokens, type } = this.tokenizer.vocabulary();
      let longest = 1;
      for (const t of tokens) if (t.length > longest) longest = t.length;
      this.info = { maxTokenChars: longest, sliceable: type === 'byte_level' };
    }
    return this.info;
  }

  /** 400 context_length_exceeded when text of `chars` characters cannot fit the context whatever it tokenizes to. */
  checkLength(chars: number, param: string): void {
    const bound = this.vocabularyInfo().maxTokenChars * this.maxContext;
    if (chars > bound) {
      throw new ApiError(
        400,
        `This model's maximum context length is ${this.maxContext} tokens; the ${param} has ${chars} characters, more than that many tokens can hold. Shorten it.`,
        'invalid_request_error',
        param,
        'context_length_exceeded',
      );
    }
  }

  /**
   * Length check (unless `bounded` is false: counting a prompt that cannot fit is still useful),
   * then tokens, yielding to the event loop between slices of long text.
   */
  async encode(text: string, param: string, addSpecialTokens: boolean, bounded = true): Promise<number[]> {
    if (bounded) this.checkLength(text.length, param);
    const slices = this.vocabularyInfo().sliceable ? sliceAtLineStarts(text, SLICE_CHARS) : [text];
    if (slices.length === 1) return this.tokenizer.encode(text, { addSpecialTokens });
    const [prefix, suffix] = addSpecialTokens ? this.specialWrapping(slices[0]!) : [[], []];
    const ids: number[] = [...prefix];
    for (const slice of slices) {
      await new Promise((resolve) => setImmediate(resolve));
      for (const id of this.tokenizer.encode(slice, { addSpecialTokens: false })) ids.push(id);
    }
    for (const id of suffix) ids.push(id);
    return ids;
  }

  /** The special tokens encoding adds around a text (BOS before, EOS after where configured). */
  private specialWrapping(sample: string): [number[], number[]] {
    const bare = this.tokenizer.encode(sample, { addSpecialTokens: false });
    const wrapped = this.tokenizer.encode(sample, { addSpecialTokens: true });
    for (let k = 0; k + bare.length <= wrapped.length; k++) {
      if (bare.every((id, i) => wrapped[k + i] === id)) return [wrapped.slice(0, k), wrapped.slice(k + bare.length)];
    }
    throw new Error('the tokenizer adds special tokens inside the text; it cannot be encoded in slices');
  }
}

/** Splits `text` into pieces of about `size` characters, each cut just after a newline that a letter follows. */
export function sliceAtLineStarts(text: string, size: number): string[] {
  const out: string[] = [];
  let start = 0;
  while (text.length - start > size) {
    let cut = -1;
    for (
      let nl = text.indexOf('\n', start + size - 1);
      nl !== -1 && nl + 1 < text.length;
      nl = text.indexOf('\n', nl + 1)
    ) {
      if (/\p{L}/u.test(text[nl + 1]!)) {
        cut = nl + 1;
        break;
      }
    }
    if (cut === -1) break;
    out.push(text.slice(start, cut));
    start = cut;
  }
  out.push(text.slice(start));
  return out;
}
