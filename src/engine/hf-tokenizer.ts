/**
 * An EngineTokenizer over a Hugging Face `tokenizer.json` + `tokenizer_config.json` pair
 * (`@huggingface/tokenizers` for the vocabulary, `@huggingface/jinja` for the chat template).
 *
 * @example
 * const tok = HfTokenizer.fromJson(JSON.parse(tokenizerJson), JSON.parse(tokenizerConfigJson));
 * tok.applyChatTemplate([{ role: 'user', content: 'Hi' }], { addGenerationPrompt: true });
 */
import { Tokenizer } from '@huggingface/tokenizers';
import { Template } from '@huggingface/jinja';
import type { ChatMessage, ChatTemplateOptions, EngineTokenizer } from './tokenizer.js';

interface TokenizerJson {
  model: { type: string; vocab: Record<string, number> | [string, number][]; byte_fallback?: boolean };
  added_tokens?: { id: number; content: string; special?: boolean }[];
  decoder?: { type?: string; decoders?: { type?: string }[] } | null;
}

type SpecialToken = string | { content: string } | undefined;

function tokenText(t: SpecialToken): string | undefined {
  return typeof t === 'string' ? t : t?.content;
}

export class HfTokenizer implements EngineTokenizer {
  readonly stopTokenIds: readonly number[];
  readonly templateSupportsTools: boolean;
  private readonly template: Template | null;
  private readonly bosToken: string;
  private readonly eosToken: string;
  private readonly addBos: boolean;

  private constructor(
    private readonly inner: Tokenizer,
    private readonly json: TokenizerJson,
    config: Record<string, unknown>,
    extraStopIds: readonly number[],
  ) {
    const source = typeof config.chat_template === 'string' ? config.chat_template : null;
    this.template = source ? new Template(source) : null;
    this.templateSupportsTools = source !== null && /\btools\b/.test(source);
    this.bosToken = tokenText(config.bos_token as SpecialToken) ?? '';
    this.eosToken = tokenText(config.eos_token as SpecialToken) ?? '';
    this.addBos = config.add_bos_token !== false && this.bosToken !== '';
    const stops = new Set(extraStopIds);
    const eosId = this.eosToken ? inner.token_to_id(this.eosToken) : undefined;
    if (eosId !== undefined) stops.add(eosId);
    this.stopTokenIds = [...stops];
  }

  /** `extraStopIds`: e.g. `eos_token_id` of generation_config.json when it lists several. */
  static fromJson(tokenizerJson: unknown, tokenizerConfig: Record<string, unknown> = {}, extraStopIds: readonly number[] = []): HfTokenizer {
    return new HfTokenizer(new Tokenizer(tokenizerJson as object, tokenizerConfig), tokenizerJson as TokenizerJson, tokenizerConfig, extraStopIds);
  }

  encode(text: string, options: { addSpecialTokens?: boolean } = {}): number[] {
    return this.inner.encode(text, { add_special_tokens: options.addSpecialTokens ?? true }).ids;
  }

  decode(ids: readonly number[], options: { skipSpecialTokens?: boolean } = {}): string {
    return this.inner.decode([...ids], { skip_special_tokens: options.skipSpecialTokens ?? true, clean_up_tokenization_spaces: false });
  }

  applyChatTemplate(messages: readonly ChatMessage[], options: ChatTemplateOptions): string {
    if (!this.template) {
      // No template: a plain transcript, so base models can still be chatted with.
      const lines = messages.map((m) => `${m.role}: ${m.content ?? ''}`);
      return (this.addBos ? this.bosToken : '') + lines.join('\n') + (options.addGenerationPrompt ? '\nassistant:' : '');
    }
    return this.template.render({
      messages,
      bos_token: this.bosToken,
      eos_token: this.eosToken,
      add_generation_prompt: options.addGenerationPrompt,
      ...(options.tools ? { tools: options.tools } : {}),
    });
  }

  vocabulary(): { tokens: string[]; type: 'byte_level' | 'byte_fallback' | 'raw' } {
    const vocab = this.json.model.vocab;
    const tokens: string[] = [];
    const entries: [string, number][] = Array.isArray(vocab) ? vocab.map(([s], i) => [s, i]) : Object.entries(vocab);
    for (const [s, id] of entries) tokens[id] = s;
    for (const added of this.json.added_tokens ?? []) tokens[added.id] = added.content;
    for (let i = 0; i < tokens.length; i++) tokens[i] ??= '';
    const decoders = [this.json.decoder?.type, ...(this.json.decoder?.decoders ?? []).map((d) => d.type)];
    const type = decoders.includes('ByteLevel') ? 'byte_level' : this.json.model.byte_fallback || decoders.includes('ByteFallback') ? 'byte_fallback' : 'raw';
    return { tokens, type };
  }
}
