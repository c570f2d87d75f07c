/**
 * vLLM's /tokenize and /detokenize: the tokens are the tokenizer's own (the oracle), the chat
 * count equals a chat completion's prompt_tokens, and bad input, unknown models, a missing key
 * and oversized bodies get OpenAI-shaped errors.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './helpers.js';

const MODEL = 'tessera-toy';
let s: TestServer;
beforeAll(async () => {
  s = await startTestServer();
});
afterAll(async () => {
  await s.close();
});

async function post(path: string, body: unknown, headers: Record<string, string> = {}, url = s.url) {
  const res = await fetch(`${url}${path}`, {
    method: 'POST',
    body: JSON.stringify(body),
    headers: { 'content-type': 'application/json', ...headers },
  });
  return {
    status: res.status,
    json: (await res.json()) as Record<string, unknown> & { error?: Record<string, unknown> },
  };
}

describe('/tokenize', () => {
  it('a text prompt gives the tokenizer’s tokens, with special tokens unless asked not to', async () => {
    const prompt = 'Hello tokenizer, count me.';
    const r = await post('/tokenize', { model: MODEL, prompt });
    expect(r.status).toBe(200);
    const expected = s.model.tokenizer.encode(prompt, { addSpecialTokens: true });
    expect(r.json).toEqual({ count: expected.length, max_model_len: s.model.runner.maxContext, tokens: expected });
    const bare = await post('/tokenize', { prompt, add_special_tokens: false, return_token_strs: true });
    const ids = s.model.tokenizer.encode(prompt, { addSpecialTokens: false });
    expect(bare.json.tokens).toEqual(ids);
    const vocab = s.model.tokenizer.vocabulary().tokens;
    expect(bare.json.token_strs).toEqual(ids.map((id) => vocab[id]));
  });

  it('messages count exactly the prompt tokens of a chat completion of the same messages', async () => {
    const messages = [
      { role: 'system' as const, content: 'Be brief.' },
      { role: 'user' as const, content: 'How many tokens is this?' },
    ];
    const r = await post('/tokenize', { model: MODEL, messages });
    expect(r.status).toBe(200);
    const chat = await s.client.chat.completions.create({ model: MODEL, messages, max_tokens: 1 });
    expect(r.json.count).toBe(chat.usage!.prompt_tokens);
    const noGen = await post('/tokenize', { model: MODEL, messages, add_generation_prompt: false });
    expect(noGen.json.count as number).toBeLessThan(r.json.count as number);
  });

  it('a prompt longer than the context is counted, not refused', async () => {
    const r = await post('/tokenize', { model: MODEL, prompt: 'word '.repeat(3000) });
    expect(r.status).toBe(200);
    expect(r.json.count as number).toBeGreaterThan(s.model.runner.maxContext);
  });

  it('bad requests: neither or both inputs, wrong types, unknown model', async () => {
    for (const body of [{ model: MODEL }, { model: MODEL, prompt: 'a', messages: [{ role: 'user', content: 'b' }] }]) {
      const r = await post('/tokenize', body);
      expect(r.status).toBe(400);
      expect(r.json.error).toMatchObject({ type: 'invalid_request_error', param: 'prompt' });
    }
    expect((await post('/tokenize', { prompt: 5 })).status).toBe(400);
    const unknown = await post('/tokenize', { model: 'gpt-4o', prompt: 'a' });
    expect(unknown.status).toBe(404);
    expect(unknown.json.error).toMatchObject({ code: 'model_not_found', param: 'model' });
  });
});

describe('/detokenize', () => {
  it('turns tokenize’s tokens back into the text', async () => {
    const prompt = 'Round trip: ünïcode and spaces  too.';
    const { json } = await post('/tokenize', { model: MODEL, prompt, add_special_tokens: false });
    const r = await post('/detokenize', { model: MODEL, tokens: json.tokens });
    expect(r).toEqual({ status: 200, json: { prompt } });
  });

  it('ids outside the vocabulary, negative or fractional ids are 400', async () => {
    const vocab = s.model.runner.vocabSize;
    for (const tokens of [[5, vocab], [-1], [1.5]]) {
      const r = await post('/detokenize', { model: MODEL, tokens });
      expect(r.status, JSON.stringify(tokens)).toBe(400);
      expect(r.json.error).toMatchObject({ type: 'invalid_request_error' });
      expect(String(r.json.error!.param)).toMatch(/^tokens/);
    }
  });
});

describe('limits and the key', () => {
  it('with a key, both endpoints need it; bodies beyond the limit get 413; non-JSON gets 415', async () => {
    const locked = await startTestServer({ server: { apiKey: 'sekret', maxBodyBytes: 1024 } });
    try {
      for (const path of ['/tokenize', '/detokenize']) {
        const body = path === '/tokenize' ? { prompt: 'hi' } : { tokens: [5] };
        expect((await post(path, body, {}, locked.url)).status).toBe(401);
        expect((await post(path, body, { authorization: 'Bearer sekret' }, locked.url)).status).toBe(200);
      }
      const big = await post('/tokenize', { prompt: 'x'.repeat(2000) }, { authorization: 'Bearer sekret' }, locked.url);
      expect(big.status).toBe(413);
      expect(big.json.error).toMatchObject({ code: 'request_too_large' });
      const plain = await fetch(`${locked.url}/tokenize`, {
        method: 'POST',
        body: '{"prompt":"hi"}',
        headers: { 'content-type': 'text/plain', authorization: 'Bearer sekret' },
      });
      expect(plain.status).toBe(415);
    } finally {
      await locked.close();
    }
  });
});
