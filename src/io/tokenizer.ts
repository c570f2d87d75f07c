/**
 * A model's tokenizer: `tokenizer.json` run by `@huggingface/tokenizers`, plus what
 * `tokenizer_config.json` and `generation_config.json` add — special tokens, BOS/EOS policy,
 * stop tokens and chat templates — checked on load so a broken file fails with its name.
 */
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import type { Folder } from '../platform/byte-source.js';
import { platform } from '../platform/current.js';
import { ChatTemplate, chatTemplatesFromConfig, type ChatMessage, type ChatTemplateOptions } from './chat-template.js';
import { CheckpointError, describeError } from './errors.js';
import { StreamDecoder } from './stream-decoder.js';

/** Tokens that end an assistant turn in the chat formats of common model families. */
const END_OF_TURN_TOKENS = ['<|eot_id|>', '<|eom_id|>', '<|im_end|>', '<|end|>', '<end_of_turn>', '<|endoftext|>'];

export interface TokenizerFiles {
  /** Parsed tokenizer.json. */
  readonly tokenizer: unknown;
  /** Parsed tokenizer_config.json (optional). */
  readonly config?: Record<string, unknown>;
  /** Parsed generation_config.json (optional: extra EOS ids). */
  readonly generationConfig?: Record<string, unknown>;
  /** Contents of chat_template.jinja (newer transformers save the template there; it wins). */
  readonly chatTemplateFile?: string;
  /** Where these came from, for error messages. */
  readonly source: string;
}

export interface EncodeOptions {
  /** Apply the tokenizer's post-processor and BOS/EOS policy (default true). Chat prompts pass false: the template has them. */
  readonly addSpecialTokens?: boolean;
}

export interface DecodeOptions {
  readonly skipSpecialTokens?: boolean;
  /** Default: the config's clean_up_tokenization_spaces, as transformers does. */
  readonly cleanUpTokenizationSpaces?: boolean;
}

function vocabSizeOf(hf: HfTokenizer): number {
  let maxId = -1;
  for (const id of hf.get_vocab(true).values()) maxId = Math.max(maxId, id); // a loop: spreading 150k ids overflows the stack
  return maxId + 1;
}

const NAMED_TOKENS = ['bos_token', 'eos_token', 'pad_token'] as const;

/** The config's BOS/EOS/PAD (and UNK) strings, and the ids of the first three, each checked against the vocabulary. */
function namedSpecialTokens(hf: HfTokenizer, config: Record<string, unknown>, source: string) {
  const tokenString = (key: string): string | null => {
    const v = config[key];
    if (typeof v === 'string') return v;
    if (typeof v === 'object' && v !== null && typeof (v as { content?: unknown }).content === 'string')
      return (v as { content: string }).content;
    return null;
  };
  const idOf = (key: string): number | null => {
    const s = tokenString(key);
    if (s === null) return null;
    const id = hf.token_to_id(s);
    if (id === undefined)
      throw new CheckpointError(source, `${key} '${s}' is not in the vocabulary`, {
        hint: 'tokenizer.json and tokenizer_config.json do not belong together',
      });
    return id;
  };
  const ids = {} as Record<(typeof NAMED_TOKENS)[number], number | null>;
  for (const key of NAMED_TOKENS) ids[key] = idOf(key);
  const strings: Record<string, string | null> = {};
  for (const key of [...NAMED_TOKENS, 'unk_token']) strings[key] = tokenString(key);
  return { ids, strings };
}

/** EOS, generation_config's eos_token_id list (checked), and the end-of-turn tokens the vocabulary marks special. */
function stopTokens(
  hf: HfTokenizer,
  files: TokenizerFiles,
  eos: number | null,
  special: ReadonlySet<number>,
  vocabSize: number,
): Set<number> {
  const stop = new Set<number>();
  if (eos !== null) stop.add(eos);
  const genEos = files.generationConfig?.eos_token_id;
  for (const id of Array.isArray(genEos) ? genEos : genEos === undefined || genEos === null ? [] : [genEos]) {
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize)
      throw new CheckpointError(files.source, `generation_config eos_token_id ${JSON.stringify(id)} is not a token id`);
    stop.add(id as number);
  }
  for (const s of END_OF_TURN_TOKENS) {
    const id = hf.token_to_id(s);
    if (id !== undefined && special.has(id)) stop.add(id);
  }
  return stop;
}

/** How the vocabulary's strings encode bytes, read from the decoder chain and the BPE model's byte_fallback. */
function vocabularyKindOf(tokenizerJson: unknown): Tokenizer['vocabularyKind'] {
  const json = tokenizerJson as {
    model?: { byte_fallback?: boolean };
    decoder?: { type?: string; decoders?: { type?: string }[] } | null;
  };
  const decoders = [json.decoder?.type, ...(json.decoder?.decoders ?? []).map((d) => d.type)];
  if (decoders.includes('ByteLevel')) return 'byte_level';
  return json.model?.byte_fallback || decoders.includes('ByteFallback') ? 'byte_fallback' : 'raw';
}

/** The config's chat templates by name (chat_template.jinja, when present, is the default), each parsed now. */
function chatTemplates(config: Record<string, unknown>, files: TokenizerFiles): Map<string, ChatTemplate> {
  const templates = new Map<string, ChatTemplate>();
  const sources = chatTemplatesFromConfig(config.chat_template);
  if (files.chatTemplateFile !== undefined) sources.set('default', files.chatTemplateFile);
  for (const [name, source] of sources) {
    try {
      templates.set(name, new ChatTemplate(source));
    } catch (e) {
      throw new CheckpointError(files.source, `chat template '${name}' does not parse (${describeError(e)})`, {
        hint: 'fix the chat_template in tokenizer_config.json',
      });
    }
  }
  return templates;
}

export class Tokenizer {
  readonly bosTokenId: number | null;
  readonly eosTokenId: number | null;
  readonly padTokenId: number | null;
  /** Ids that end generation: EOS, generation_config's eos_token_id list, end-of-turn tokens. */
  readonly stopTokenIds: ReadonlySet<number>;
  readonly specialTokenIds: ReadonlySet<number>;
  readonly vocabSize: number;
  /** Prepend BOS on encode when the post-processor did not (config add_bos_token, default: when a BOS token exists). */
  readonly addBos: boolean;
  readonly addEos: boolean;
  /** How vocabulary strings encode bytes (grammar-constrained decoding needs to know). */
  readonly vocabularyKind: 'byte_level' | 'byte_fallback' | 'raw';
  private readonly templates: ReadonlyMap<string, ChatTemplate>;
  private readonly specialStrings: Record<string, string | null>;
  private readonly cleanUp: boolean;

  private constructor(
    private readonly hf: HfTokenizer,
    files: TokenizerFiles,
  ) {
    const config = files.config ?? {};
    this.vocabSize = vocabSizeOf(hf);
    const named = namedSpecialTokens(hf, config, files.source);
    this.bosTokenId = named.ids.bos_token;
    this.eosTokenId = named.ids.eos_token;
    this.padTokenId = named.ids.pad_token;
    this.specialStrings = named.strings;
    this.addBos = typeof config.add_bos_token === 'boolean' ? config.add_bos_token : this.bosTokenId !== null;
    this.addEos = config.add_eos_token === true;
    this.cleanUp = config.clean_up_tokenization_spaces === true;

    const special = new Set<number>();
    for (const [id, t] of hf.get_added_tokens_decoder()) if (t.special) special.add(id);
    this.specialTokenIds = special;
    this.stopTokenIds = stopTokens(hf, files, this.eosTokenId, special, this.vocabSize);
    this.vocabularyKind = vocabularyKindOf(files.tokenizer);
    this.templates = chatTemplates(config, files);
  }

  /**
   * Builds a tokenizer from parsed files.
   *
   * @example
   * const tok = Tokenizer.fromFiles({ tokenizer: json, config: cfg, source: 'my-model' });
   */
  static fromFiles(files: TokenizerFiles): Tokenizer {
    const t = files.tokenizer as { model?: unknown } | null;
    if (typeof t !== 'object' || t === null || typeof t.model !== 'object' || t.model === null) {
      throw new CheckpointError(files.source, 'tokenizer.json has no "model" object', {
        hint: 'this is not a HF tokenizers file',
      });
    }
    let hf: HfTokenizer;
    try {
      hf = new HfTokenizer(files.tokenizer as object, (files.config ?? {}) as object);
    } catch (e) {
      throw new CheckpointError(files.source, `tokenizer.json cannot be loaded (${describeError(e)})`, {
        hint: 'the file is damaged or uses a tokenizer component @huggingface/tokenizers does not support',
      });
    }
    return new Tokenizer(hf, files);
  }

  /** Whether a chat template renders `tools` itself (else callers describe tools in a message). */
  get templateSupportsTools(): boolean {
    return this.templates.has('tool_use') || [...this.templates.values()].some((t) => /\btools\b/.test(t.source));
  }

  /** Every vocabulary string in id order ('' for unused ids). */
  vocabulary(): string[] {
    const out = new Array<string>(this.vocabSize);
    for (let id = 0; id < this.vocabSize; id++) out[id] = this.hf.id_to_token(id) ?? '';
    return out;
  }

  /** The chat template names this tokenizer has ('default', and e.g. 'tool_use'). */
  get chatTemplateNames(): string[] {
    return [...this.templates.keys()];
  }

  encode(text: string, options: EncodeOptions = {}): number[] {
    const add = options.addSpecialTokens ?? true;
    const ids = this.hf.encode(text, { add_special_tokens: add }).ids;
    if (add && this.addBos && this.bosTokenId !== null && ids[0] !== this.bosTokenId) ids.unshift(this.bosTokenId);
    if (add && this.addEos && this.eosTokenId !== null && ids[ids.length - 1] !== this.eosTokenId)
      ids.push(this.eosTokenId);
    return ids;
  }

  decode(ids: readonly number[], options: DecodeOptions = {}): string {
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize)
        throw new RangeError(`decode: token id ${id} is outside the vocabulary (0..${this.vocabSize - 1})`);
    }
    if (ids.length === 0) return ''; // the library refuses empty input
    return this.hf.decode(ids as number[], {
      skip_special_tokens: options.skipSpecialTokens ?? false,
      clean_up_tokenization_spaces: options.cleanUpTokenizationSpaces ?? this.cleanUp,
    });
  }

  tokenToId(token: string): number | undefined {
    return this.hf.token_to_id(token);
  }

  idToToken(id: number): string | undefined {
    return this.hf.id_to_token(id);
  }

  /**
   * A decoder for streamed generation: push ids, get text deltas that never split a character.
   * It decodes without tokenization-space cleanup (cleanup is not prefix-stable), so the deltas
   * concatenate to `decode(ids, { cleanUpTokenizationSpaces: false })`.
   */
  streamDecoder(options: { skipSpecialTokens?: boolean } = {}): StreamDecoder {
    return new StreamDecoder((ids) =>
      ids.length === 0
        ? ''
        : this.hf.decode(ids as number[], {
            skip_special_tokens: options.skipSpecialTokens ?? false,
            clean_up_tokenization_spaces: false,
          }),
    );
  }

  /**
   * Renders messages with the model's chat template.
   *
   * @example
   * tok.applyChatTemplate([{ role: 'user', content: 'Hi' }]); // '<|begin_of_text|><|start_header_id|>user…'
   */
  applyChatTemplate(messages: readonly ChatMessage[], options: ChatTemplateOptions = {}): string {
    const name =
      options.templateName ?? (options.tools !== undefined && this.templates.has('tool_use') ? 'tool_use' : 'default');
    const template = this.templates.get(name);
    if (template === undefined) {
      const have = this.chatTemplateNames;
      throw new Error(
        have.length === 0
          ? 'this tokenizer has no chat template: format the prompt yourself, or add chat_template to tokenizer_config.json'
          : `no chat template named '${name}' (this tokenizer has ${have.map((n) => `'${n}'`).join(', ')})`,
      );
    }
    try {
      return template.render(messages, this.specialStrings, options);
    } catch (e) {
      throw new Error(`chat template '${name}' failed: ${describeError(e)}`);
    }
  }

  /** Chat template then encode, without adding special tokens again (the template has them). */
  encodeChat(messages: readonly ChatMessage[], options: ChatTemplateOptions = {}): number[] {
    return this.encode(this.applyChatTemplate(messages, options), { addSpecialTokens: false });
  }
}

async function readJson(folder: Folder, name: string, required: boolean): Promise<Record<string, unknown> | undefined> {
  const path = folder.locate(name);
  let text: string | null;
  try {
    text = await folder.readText(name);
  } catch (e) {
    throw new CheckpointError(path, `cannot read (${describeError(e)})`, {
      hint: 'a HF model folder has tokenizer.json beside its weights',
    });
  }
  if (text === null) {
    if (!required) return undefined;
    throw new CheckpointError(path, 'cannot read (no such file)', {
      hint: 'a HF model folder has tokenizer.json beside its weights',
    });
  }
  try {
    const json: unknown = JSON.parse(text);
    if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new Error('not a JSON object');
    return json as Record<string, unknown>;
  } catch (e) {
    throw new CheckpointError(path, `is not valid JSON (${describeError(e)})`);
  }
}

/**
 * Loads `tokenizer.json`, and beside it (when present) `tokenizer_config.json`,
 * `generation_config.json` and `chat_template.jinja`, from a model folder: a path (or URL where the
 * platform reads URLs) of the folder or of its tokenizer.json, or a `Folder` (`urlFolder`, `blobFolder`).
 *
 * @example
 * const tok = await loadTokenizer('models/llama-3.2-1b');
 * tok.encode('Hello'); // [128000, 9906]
 */
export async function loadTokenizer(location: string | Folder): Promise<Tokenizer> {
  let folder: Folder;
  let file = 'tokenizer.json';
  if (typeof location === 'string') {
    const located = await platform.locate(location).catch((e: unknown) => {
      throw new CheckpointError(location, `cannot open (${describeError(e)})`, { hint: 'check the path' });
    });
    folder = located.folder;
    file = located.file ?? file;
  } else folder = location;
  const tokenizer = await readJson(folder, file, true);
  const config = await readJson(folder, 'tokenizer_config.json', false);
  const generationConfig = await readJson(folder, 'generation_config.json', false);
  const chatTemplateFile = (await folder.readText('chat_template.jinja').catch(() => null)) ?? undefined;
  return Tokenizer.fromFiles({ tokenizer, config, generationConfig, chatTemplateFile, source: folder.locate(file) });
}
