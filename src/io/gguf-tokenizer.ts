/**
 * A tokenizer from GGUF metadata (`tokenizer.ggml.*`), for GGUF files that come without a
 * `tokenizer.json`: the byte-level BPE vocabularies (Llama 3, Qwen2, GPT-2 style) are rebuilt as an
 * HF tokenizer.json object and run by the same Tokenizer class.
 *
 * GGUF names the pre-tokenizer (`tokenizer.ggml.pre`) rather than storing its regex, so each
 * supported name maps to the split pattern (and merge policy) of the HF tokenizer it came from.
 * SentencePiece vocabularies (`tokenizer.ggml.model` = 'llama': Llama 2, Mistral) are refused: they
 * need a tokenizer.json beside the file.
 */
import { CheckpointError, UnsupportedModelError } from './errors.js';
import type { GgufValue } from './gguf-header.js';
import { Tokenizer } from './tokenizer.js';

const LLAMA3_SPLIT =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const QWEN2_SPLIT =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const GPT2_SPLIT = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

/** Pre-tokenizer names llama.cpp writes, and how the HF tokenizer behind each one splits and merges. */
const PRE_TOKENIZERS: Readonly<Record<string, { split: string; ignoreMerges: boolean; nfc: boolean }>> = {
  'llama-bpe': { split: LLAMA3_SPLIT, ignoreMerges: true, nfc: false },
  qwen2: { split: QWEN2_SPLIT, ignoreMerges: false, nfc: true },
  'gpt-2': { split: GPT2_SPLIT, ignoreMerges: false, nfc: false },
  default: { split: GPT2_SPLIT, ignoreMerges: false, nfc: false },
};

/** llama.cpp's token types: 3 = control (special), 4 = user-defined (added, not special). */
const CONTROL = 3;
const USER_DEFINED = 4;

function stringArray(file: string, metadata: ReadonlyMap<string, GgufValue>, key: string): string[] {
  const v = metadata.get(key);
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string'))
    throw new CheckpointError(file, `metadata '${key}' is missing or not an array of strings`);
  return v as string[];
}

type PreTokenizer = (typeof PRE_TOKENIZERS)[string];
type Metadata = ReadonlyMap<string, GgufValue>;

/** The pre-tokenizer of a byte-level BPE vocabulary; other tokenizer models and unknown names are refused. */
function preTokenizerOf(file: string, metadata: Metadata): PreTokenizer {
  const model = metadata.get('tokenizer.ggml.model');
  if (model !== 'gpt2') {
    throw new UnsupportedModelError(
      file,
      `GGUF tokenizer model ${JSON.stringify(model ?? null)} cannot be rebuilt from metadata`,
      "tokenizer.ggml.model 'gpt2' (byte-level BPE: Llama 3, Qwen2); for others put the model's tokenizer.json beside the .gguf file",
    );
  }
  const preName = metadata.get('tokenizer.ggml.pre') ?? 'default';
  const pre = typeof preName === 'string' ? PRE_TOKENIZERS[preName] : undefined;
  if (pre === undefined) {
    throw new UnsupportedModelError(
      file,
      `GGUF pre-tokenizer ${JSON.stringify(preName)} is not known`,
      `tokenizer.ggml.pre ${Object.keys(PRE_TOKENIZERS)
        .map((p) => `'${p}'`)
        .join(', ')}; or put tokenizer.json beside the .gguf file`,
    );
  }
  return pre;
}

/** Token → id, and the control and user-defined tokens as HF added tokens. */
function vocabulary(file: string, metadata: Metadata, tokens: readonly string[]) {
  const types = metadata.get('tokenizer.ggml.token_type');
  if (types !== undefined && (!Array.isArray(types) || types.length !== tokens.length)) {
    throw new CheckpointError(
      file,
      `metadata 'tokenizer.ggml.token_type' has ${Array.isArray(types) ? types.length : 'no'} entries for ${tokens.length} tokens`,
    );
  }
  const vocab: Record<string, number> = {};
  const added: object[] = [];
  tokens.forEach((t, id) => {
    vocab[t] = id;
    const type = (types as number[] | undefined)?.[id];
    if (type === CONTROL || type === USER_DEFINED) {
      added.push({
        id,
        content: t,
        single_word: false,
        lstrip: false,
        rstrip: false,
        normalized: false,
        special: type === CONTROL,
      });
    }
  });
  return { vocab, added };
}

/** The HF tokenizer.json object of a byte-level BPE with this pre-tokenizer. */
function hfTokenizerJson(pre: PreTokenizer, vocab: Record<string, number>, added: object[], merges: string[]): object {
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false };
  return {
    version: '1.0',
    added_tokens: added,
    normalizer: pre.nfc ? { type: 'NFC' } : null,
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [{ type: 'Split', pattern: { Regex: pre.split }, behavior: 'Isolated', invert: false }, byteLevel],
    },
    post_processor: byteLevel,
    decoder: byteLevel,
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: pre.ignoreMerges,
      vocab,
      merges,
    },
  };
}

/** tokenizer_config.json's special tokens, BOS policy and chat template, and the end-of-turn id. */
function tokenizerConfig(file: string, metadata: Metadata, tokens: readonly string[]) {
  const tokenAt = (key: string): string | undefined => {
    const id = metadata.get(key);
    if (id === undefined) return undefined;
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= tokens.length)
      throw new CheckpointError(
        file,
        `metadata '${key}' = ${String(id)} is not a token id (vocabulary of ${tokens.length})`,
      );
    return tokens[id];
  };
  const addBos = metadata.get('tokenizer.ggml.add_bos_token');
  const template = metadata.get('tokenizer.chat_template');
  const config: Record<string, unknown> = {
    bos_token: tokenAt('tokenizer.ggml.bos_token_id') ?? null,
    eos_token: tokenAt('tokenizer.ggml.eos_token_id') ?? null,
    pad_token: tokenAt('tokenizer.ggml.padding_token_id') ?? null,
    ...(typeof addBos === 'boolean' ? { add_bos_token: addBos } : {}),
    ...(typeof template === 'string' ? { chat_template: template } : {}),
  };
  const eot =
    tokenAt('tokenizer.ggml.eot_token_id') === undefined
      ? undefined
      : (metadata.get('tokenizer.ggml.eot_token_id') as number);
  return { config, eot };
}

/**
 * @example
 * const g = await GgufFile.open('llama-3.2-1b.Q4_K_M.gguf');
 * const tok = ggufTokenizer(g.path, g.metadata);
 */
export function ggufTokenizer(file: string, metadata: Metadata): Tokenizer {
  const pre = preTokenizerOf(file, metadata);
  const tokens = stringArray(file, metadata, 'tokenizer.ggml.tokens');
  const merges = stringArray(file, metadata, 'tokenizer.ggml.merges');
  const { vocab, added } = vocabulary(file, metadata, tokens);
  const { config, eot } = tokenizerConfig(file, metadata, tokens);
  // An end-of-turn id (e.g. <|eot_id|>) joins the stop tokens, as generation_config's EOS list would.
  return Tokenizer.fromFiles({
    tokenizer: hfTokenizerJson(pre, vocab, added, merges),
    config,
    generationConfig: eot === undefined ? undefined : { eos_token_id: [eot] },
    source: file,
  });
}
