/**
 * Graceful drain: once close() starts, new requests get 503 with Retry-After, requests in flight
 * finish, and those still running at the drain timeout end with an explicit error; a cut-short
 * generation never reports finish_reason 'stop' or ends its stream with [DONE].
 */
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

describe('graceful drain', () => {
  it('refuses new requests with 503 + Retry-After while letting in-flight ones finish', async () => {
    const s = await server({ runner: { stepDelayMs: 3 }, server: { retryAfterSeconds: 3 } });
    const stream = await s.client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'Keep going' }],
      max_tokens: 60,
      stream: true,
    });
    const it = stream[Symbol.asyncIterator]();
    const chunks = [(await it.next()).value as OpenAI.ChatCompletionChunk];
    const closing = s.close();
    const refused = await s.client.completions
      .create({ model: MODEL, prompt: 'late', max_tokens: 4 })
      .catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(OpenAI.APIError);
    const api = refused as InstanceType<typeof OpenAI.APIError>;
    expect(api.status).toBe(503);
    expect(api.code).toBe('server_shutting_down');
    expect(api.headers?.get('retry-after')).toBe('3');
    const health = await fetch(`${s.url}/health`);
    expect(health.status).toBe(503);
    expect(((await health.json()) as { status: string }).status).toBe('draining');
    for (let r = await it.next(); !r.done; r = await it.next()) chunks.push(r.value);
    expect(chunks.at(-1)!.choices[0]!.finish_reason).toBe('length');
    const text = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
    expect(text.length).toBeGreaterThan(0);
    await closing;
  });

  it('ends requests still running at the drain timeout with an error, never finish_reason stop', async () => {
    const s = await server({ runner: { stepDelayMs: 5 }, server: { drainTimeoutMs: 200 } });
    const stream = await s.client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'Talk for a long time' }],
      max_tokens: 900,
      stream: true,
      stream_options: { include_usage: true },
    });
    const blocking = s.client.completions
      .create({ model: MODEL, prompt: 'long answer', max_tokens: 900 })
      .catch((e: unknown) => e);
    const rawStream = fetch(`${s.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: MODEL, prompt: 'raw', max_tokens: 900, stream: true }),
    });
    const it = stream[Symbol.asyncIterator]();
    const chunks = [(await it.next()).value as OpenAI.ChatCompletionChunk];
    const raw = await rawStream;
    const started = Date.now();
    const closing = s.close();
    const streamed = (async () => {
      for (let r = await it.next(); !r.done; r = await it.next()) chunks.push(r.value);
    })().catch((e: unknown) => e);
    expect(await streamed).toMatchObject({ code: 'server_shutting_down' });
    expect(chunks.some((c) => c.choices.some((ch) => ch.finish_reason !== null))).toBe(false);
    expect(chunks.some((c) => c.usage)).toBe(false);
    expect(await blocking).toMatchObject({ status: 503, code: 'server_shutting_down' });
    const body = await raw.text();
    expect(body).toContain('server_shutting_down');
    expect(body).not.toContain('[DONE]');
    expect(body).not.toContain('"finish_reason":"stop"');
    await closing;
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it("an engine stopped under a request is reported as an error, not as 'stop'", async () => {
    const s = await server({ runner: { stepDelayMs: 5 } });
    const plain = s.client.completions
      .create({ model: MODEL, prompt: 'long answer', max_tokens: 900 })
      .catch((e: unknown) => e);
    const stream = await s.client.completions.create({
      model: MODEL,
      prompt: 'another',
      max_tokens: 900,
      stream: true,
    });
    const finishes: (string | null)[] = [];
    const consumed = (async () => {
      for await (const c of stream) finishes.push(...c.choices.map((ch) => ch.finish_reason));
    })().catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 100));
    await s.engine.shutdown();
    expect(await plain).toMatchObject({ status: 503, code: 'server_shutting_down' });
    expect(await consumed).toMatchObject({ code: 'server_shutting_down' });
    expect(finishes.filter((f) => f !== null)).toEqual([]);
  });
});

describe('drain handing back the queue (cluster instances)', () => {
  it('ends requests not yet started with 503 request_migrated and lets the running ones finish', async () => {
    const s = await server({
      runner: { stepDelayMs: 5 },
      engine: { maxRunningSeqs: 1 },
      server: { handBackQueuedOnDrain: true, retryAfterSeconds: 2 },
    });
    const stream = await s.client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'Keep going' }],
      max_tokens: 40,
      stream: true,
    });
    const it = stream[Symbol.asyncIterator]();
    const first = (await it.next()).value as OpenAI.ChatCompletionChunk;
    // two more wait behind the running one: the engine runs one sequence at a time
    const queuedPlain = s.client.completions
      .create({ model: MODEL, prompt: 'queued', max_tokens: 4 })
      .catch((e: unknown) => e);
    const queuedStream = fetch(`${s.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: MODEL, prompt: 'queued too', max_tokens: 4, stream: true }),
    });
    for (let t = 0; s.engine.stats().waitingRequests < 2; t++) {
      if (t > 200) throw new Error('the requests never queued');
      await new Promise((r) => setTimeout(r, 5));
    }
    const closing = s.close();
    const refused = await queuedPlain;
    expect(refused).toBeInstanceOf(OpenAI.APIError);
    expect(refused).toMatchObject({ status: 503, code: 'request_migrated' });
    expect((refused as InstanceType<typeof OpenAI.APIError>).headers?.get('retry-after')).toBe('2');
    const body = await (await queuedStream).text();
    expect(body).toContain('request_migrated');
    expect(body).not.toContain('[DONE]');
    // nothing was generated for a handed-back stream: no event carries text
    expect(body).not.toMatch(/"text":"[^"]/);
    const chunks = [first];
    for (let r = await it.next(); !r.done; r = await it.next()) chunks.push(r.value);
    expect(chunks.at(-1)!.choices[0]!.finish_reason).toBe('length');
    await closing;
  });

  it('keeps queued requests waiting when the option is off (a lone server)', async () => {
    const s = await server({ runner: { stepDelayMs: 3 }, engine: { maxRunningSeqs: 1 } });
    const running = s.client.completions.create({ model: MODEL, prompt: 'first', max_tokens: 20 });
    const queued = s.client.completions.create({ model: MODEL, prompt: 'second', max_tokens: 4 });
    for (let t = 0; s.engine.stats().waitingRequests < 1; t++) {
      if (t > 200) throw new Error('the request never queued');
      await new Promise((r) => setTimeout(r, 5));
    }
    const closing = s.close();
    expect((await running).choices[0]!.finish_reason).toBe('length');
    expect((await queued).choices[0]!.finish_reason).toBe('length');
    await closing;
  });
});
