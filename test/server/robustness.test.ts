import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './helpers.js';

const MODEL = 'tessera-toy';
const servers: TestServer[] = [];
async function server(options: Parameters<typeof startTestServer>[0] = {}) {
  const s = await startTestServer(options);
  servers.push(s);
  return s;
}
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function until(what: () => boolean, ms = 3000) {
  const end = Date.now() + ms;
  while (!what()) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

const prompts = Array.from(
  { length: 32 },
  (_, i) => `Request number ${i}: ${'abcdefghij'.slice(0, (i * 7) % 11)} tell me more`,
);

describe('concurrency', () => {
  it('32 parallel greedy requests return exactly what each returns alone', async () => {
    const s = await server({ runner: { stepDelayMs: 1 } });
    const ask = (content: string) =>
      s.client.chat.completions.create({
        model: MODEL,
        messages: [{ role: 'user', content }],
        max_tokens: 24,
        temperature: 0,
      });
    const alone: string[] = [];
    for (const p of prompts) alone.push((await ask(p)).choices[0]!.message.content!);
    // A fresh server, so nothing comes from the prefix cache filled by the runs above.
    const t = await server({ runner: { stepDelayMs: 1 } });
    const runner = t.model.runner as unknown as { maxBatchSeqs: number };
    const together = await Promise.all(
      prompts.map((content) =>
        t.client.chat.completions.create({
          model: MODEL,
          messages: [{ role: 'user', content }],
          max_tokens: 24,
          temperature: 0,
        }),
      ),
    );
    expect(together.map((r) => r.choices[0]!.message.content)).toEqual(alone);
    expect(runner.maxBatchSeqs).toBeGreaterThan(8); // they really were batched
  });

  it('preemption under a tiny page budget still returns correct outputs', async () => {
    const reference = await server();
    const ask = (c: OpenAI, content: string) =>
      c.completions.create({ model: MODEL, prompt: content, max_tokens: 40, temperature: 0 });
    const expected = await Promise.all(prompts.slice(0, 12).map((p) => ask(reference.client, p)));
    // 40 pages × 4 tokens: one request needs ≤ 17 pages, twelve at once would need ~200.
    const tiny = await server({ runner: { numPages: 40 }, engine: { maxBatchTokens: 32 } });
    const got = await Promise.all(prompts.slice(0, 12).map((p) => ask(tiny.client, p)));
    expect(got.map((r) => r.choices[0]!.text)).toEqual(expected.map((r) => r.choices[0]!.text));
    expect(tiny.engine.stats().preemptions).toBeGreaterThan(0);
    expect(tiny.engine.stats().pagesUsed).toBe(0);
  });
});

describe('cancellation, timeouts, limits, auth', () => {
  it('a client that goes away mid-stream cancels generation and frees its pages', async () => {
    const s = await server({ runner: { stepDelayMs: 3 } });
    const stream = await s.client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'Talk for a long time' }],
      max_tokens: 900,
      stream: true,
    });
    let chunks = 0;
    for await (const _ of stream) {
      if (++chunks === 5) break; // leaving the loop aborts the HTTP response
    }
    await until(() => s.engine.stats().runningSequences === 0 && s.state.activeRequests === 0);
    expect(s.engine.stats().pagesUsed).toBe(0);
    expect(s.engine.stats().generatedTokens).toBeLessThan(300);
  });

  it('a non-streaming request whose client disconnects is cancelled too', async () => {
    const s = await server({ runner: { stepDelayMs: 3 } });
    const controller = new AbortController();
    const pending = fetch(`${s.url}/v1/completions`, {
      method: 'POST',
      signal: controller.signal,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: MODEL, prompt: 'long', max_tokens: 900 }),
    });
    await until(() => s.engine.stats().generatedTokens > 3);
    controller.abort();
    await expect(pending).rejects.toThrow();
    await until(() => s.engine.stats().runningSequences === 0 && s.state.activeRequests === 0);
    expect(s.engine.stats().generatedTokens).toBeLessThan(300);
  });

  it('requests past the timeout are cancelled: 504, or an error event when streaming', async () => {
    const s = await server({ runner: { stepDelayMs: 5 }, server: { requestTimeoutMs: 150 } });
    const err = await s.client.completions
      .create({ model: MODEL, prompt: 'slow', max_tokens: 900 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect((err as InstanceType<typeof OpenAI.APIError>).status).toBe(504);
    const stream = await s.client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'slow' }],
      max_tokens: 900,
      stream: true,
    });
    await expect(
      (async () => {
        for await (const _ of stream);
      })(),
    ).rejects.toThrow(/did not finish within 150 ms/);
    await until(() => s.engine.stats().runningSequences === 0 && s.state.activeRequests === 0);
  });

  it('a full queue answers 429 with Retry-After, and recovers', async () => {
    const s = await server({
      runner: { stepDelayMs: 5 },
      server: { maxConcurrentRequests: 1, maxQueuedRequests: 1, retryAfterSeconds: 2 },
    });
    const body = JSON.stringify({ model: MODEL, prompt: 'busy', max_tokens: 30 });
    const post = () =>
      fetch(`${s.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const responses = await Promise.all([post(), post(), post(), post()]);
    const statuses = responses.map((r) => r.status).sort();
    expect(statuses).toEqual([200, 200, 429, 429]);
    const rejected = responses.find((r) => r.status === 429)!;
    expect(rejected.headers.get('retry-after')).toBe('2');
    expect(((await rejected.json()) as { error: { type: string } }).error.type).toBe('rate_limit_error');
    expect((await post()).status).toBe(200);
  });

  it('with an API key, /v1 needs the right Bearer token; liveness stays public', async () => {
    const s = await server({ server: { apiKey: 'sekret' } });
    const good = await s.client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'hi' }],
      max_tokens: 3,
    });
    expect(good.choices).toHaveLength(1);
    const wrong = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: 'nope', maxRetries: 0 });
    const err = await wrong.models.list().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.AuthenticationError);
    expect((err as InstanceType<typeof OpenAI.APIError>).code).toBe('invalid_api_key');
    expect((await fetch(`${s.url}/v1/models`)).status).toBe(401);
    expect((await fetch(`${s.url}/health/live`)).status).toBe(200);
  });
});
