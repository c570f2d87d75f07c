/**
 * Unknown request fields handled as OpenAI handles them: a field the endpoint does not define is
 * a 400 "Unrecognized request argument supplied: X"; a field OpenAI defines that this server
 * cannot honour is a 400 unsupported_parameter; the vendor extensions on the allow-list and the
 * OpenAI fields with no effect on a local model are accepted. The list of OpenAI's fields comes
 * from the installed `openai` SDK's own request types, so an SDK upgrade that adds a field fails
 * here until the field is classified.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  chatCompletionFields,
  completionFields,
  detokenizeFields,
  tokenizeFields,
  VENDOR_EXTENSIONS,
} from '../../src/server/schemas.js';
import { startTestServer, type TestServer } from './helpers.js';

const MODEL = 'tessera-toy';
let s: TestServer;
beforeAll(async () => {
  s = await startTestServer();
});
afterAll(async () => {
  await s.close();
});

const user = [{ role: 'user' as const, content: 'hi' }];
type Loose = Record<string, unknown>;
const chat = (extra: Loose) =>
  s.client.chat.completions.create({ model: MODEL, messages: user, max_tokens: 2, ...extra } as never);
const text = (extra: Loose) =>
  s.client.completions.create({ model: MODEL, prompt: 'hi', max_tokens: 2, ...extra } as never);

async function apiError(p: Promise<unknown>) {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(OpenAI.APIError);
  const err = e as InstanceType<typeof OpenAI.APIError>;
  return { status: err.status, body: err.error as Loose };
}

/** The field names of an interface in the SDK's declaration file. */
function sdkFields(file: string, iface: string): string[] {
  const root = dirname(createRequire(import.meta.url).resolve('openai'));
  const src = readFileSync(join(root, file), 'utf8');
  const start = src.indexOf(`export interface ${iface} {`);
  expect(start, `${iface} in ${file}`).toBeGreaterThan(-1);
  const body = src.slice(start, src.indexOf('\n}', start));
  return [...body.matchAll(/^ {4}([a-z_]+)\??:/gm)].map((m) => m[1]!);
}

describe('field lists against the openai SDK', () => {
  const chatSdk = sdkFields('resources/chat/completions/completions.d.ts', 'ChatCompletionCreateParamsBase');
  const textSdk = sdkFields('resources/completions.d.ts', 'CompletionCreateParamsBase');

  it('every OpenAI field is either accepted or refused as unsupported, never unrecognized', () => {
    expect(chatSdk.length).toBeGreaterThan(20);
    expect(textSdk.length).toBeGreaterThan(10);
    const unsupported = Object.keys(chatCompletionFields.unsupported ?? {});
    for (const f of chatSdk)
      expect(chatCompletionFields.known.has(f) || unsupported.includes(f), `chat.${f}`).toBe(true);
    for (const f of textSdk) expect(completionFields.known.has(f), `completions.${f}`).toBe(true);
  });

  it('beyond OpenAI’s fields, only the vendor extensions are accepted', () => {
    const extra = (known: ReadonlySet<string>, sdk: string[]) => [...known].filter((f) => !sdk.includes(f)).sort();
    expect(extra(chatCompletionFields.known, chatSdk)).toEqual([...VENDOR_EXTENSIONS].sort());
    expect(extra(completionFields.known, textSdk)).toEqual([...VENDOR_EXTENSIONS].sort());
  });
});

describe('unknown fields', () => {
  it('are a 400 in OpenAI’s words, on both endpoints, streaming or not', async () => {
    for (const call of [chat, text]) {
      for (const stream of [false, true]) {
        const r = await apiError(call({ max_token: 5, stream }));
        expect(r.status).toBe(400);
        expect(r.body).toEqual({
          message: 'Unrecognized request argument supplied: max_token',
          type: 'invalid_request_error',
          param: null,
          code: null,
        });
      }
    }
    const two = await apiError(chat({ foo: 1, bar: null }));
    expect(two.body.message).toBe('Unrecognized request arguments supplied: foo, bar');
  });

  it('a vendor extension not on the allow-list is unrecognized too', async () => {
    const r = await apiError(chat({ skip_special_tokens: false }));
    expect(r.body.message).toBe('Unrecognized request argument supplied: skip_special_tokens');
  });

  it('/tokenize and /detokenize refuse them the same way', async () => {
    expect([...tokenizeFields.known].sort()).toContain('prompt');
    for (const [path, body] of [
      ['/tokenize', { prompt: 'a', add_special_token: false }],
      ['/detokenize', { tokens: [5], skip_special_tokens: true }],
    ] as const) {
      const res = await fetch(`${s.url}${path}`, {
        method: 'POST',
        body: JSON.stringify(body),
        headers: { 'content-type': 'application/json' },
      });
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: Loose }).error.message).toMatch(
        /^Unrecognized request argument supplied: /,
      );
    }
    expect(detokenizeFields.known.has('tokens')).toBe(true);
  });
});

describe('accepted and unsupported OpenAI fields', () => {
  it('the vendor extensions work on both endpoints', async () => {
    const values: Loose = { top_k: 5, min_p: 0.05, repetition_penalty: 1.1, ignore_eos: true, stop_token_ids: [0] };
    expect(Object.keys(values).sort()).toEqual([...VENDOR_EXTENSIONS].sort());
    expect((await chat(values)).choices[0]!.finish_reason).toBe('length');
    expect((await text(values)).choices[0]!.finish_reason).toBe('length');
  });

  it('fields with no effect on a local model are accepted and ignored', async () => {
    const ignored = {
      metadata: { k: 'v' },
      store: false,
      service_tier: 'auto',
      user: 'u1',
      prompt_cache_key: 'k',
      safety_identifier: 'sid',
      modalities: ['text'],
    };
    const plain = await chat({ temperature: 0 });
    const r = await chat({ temperature: 0, ...ignored });
    expect(r.choices[0]!.message.content).toBe(plain.choices[0]!.message.content);
  });

  it('fields this server cannot honour are a 400 unsupported_parameter naming them; null is absent', async () => {
    for (const [field, value] of [
      ['audio', { voice: 'alloy', format: 'mp3' }],
      ['modalities', ['text', 'audio']],
      ['reasoning_effort', 'low'],
      ['functions', [{ name: 'f' }]],
      ['prediction', { type: 'content', content: 'x' }],
      ['web_search_options', {}],
    ] as const) {
      const r = await apiError(chat({ [field]: value }));
      expect(r.status, field).toBe(400);
      expect(r.body).toMatchObject({ type: 'invalid_request_error', param: field, code: 'unsupported_parameter' });
      expect(r.body.message).toBe(`Unsupported parameter: '${field}' is not supported with this model.`);
    }
    expect((await chat({ audio: null, reasoning_effort: null })).choices).toHaveLength(1);
  });
});
