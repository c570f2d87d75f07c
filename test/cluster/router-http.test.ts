/**
 * The router's HTTP side in one process, without NATS: the roster is fed the instances' records
 * directly (instanceSnapshot, as a heartbeat would carry them), and the instances are servers over
 * the toy model. Covers what the router checks before it forwards (its own API key, body limits,
 * JSON only), the key it sends on, a client's disconnect reaching the instance (its request count
 * drops), and /v1/models merged over the instances with their resident adapters.
 */
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import type { InstanceInfo } from '../../src/cluster/instance-info.js';
import { instanceSnapshot } from '../../src/cluster/membership.js';
import { listenRouter, type RouterHttpOptions } from '../../src/cluster/router.js';
import { RouterCore } from '../../src/cluster/router-core.js';
import { startTestServer, type TestServer } from '../server/helpers.js';

const MODEL = 'tessera-toy';
const IGNORE_EOS = { ignore_eos: true } as object;

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

async function cluster(
  http: RouterHttpOptions = {},
  server: Parameters<typeof startTestServer>[0] = {},
): Promise<{ instance: TestServer; url: string; core: RouterCore }> {
  const instance = await startTestServer({ runner: { stepDelayMs: 5 }, ...server });
  closers.push(() => instance.close());
  const core = new RouterCore({ staleMs: 60_000, log: () => {} });
  const beat = () =>
    core.roster.update(instanceSnapshot({ id: 'toy0', baseUrl: instance.url, device: 'toy', state: instance.state }));
  beat();
  const timer = setInterval(beat, 50);
  closers.push(async () => clearInterval(timer));
  const router = await listenRouter(core, http);
  closers.push(() => router.close());
  return { instance, url: router.url, core };
}

const post = (url: string, body: string, headers: Record<string, string> = {}) =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });

async function until(cond: () => boolean, what: string, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('router: its own API key', () => {
  it('refuses a request without the router key before forwarding, and sends the instance its own key', async () => {
    const { url, core } = await cluster(
      { apiKey: 'router-key', instanceApiKey: 'instance-key' },
      { server: { apiKey: 'instance-key' } },
    );
    const body = JSON.stringify({ model: MODEL, prompt: 'hi', max_tokens: 2 });
    const none = await post(`${url}/v1/completions`, body);
    expect(none.status).toBe(401);
    expect(((await none.json()) as { error: { code: string } }).error.code).toBe('invalid_api_key');
    const wrong = await post(`${url}/v1/completions`, body, { authorization: 'Bearer instance-key' });
    expect(wrong.status).toBe(401);
    expect(core.decisions).toEqual([]);
    expect((await fetch(`${url}/health/live`)).status).toBe(200);
    expect((await fetch(`${url}/metrics`)).status).toBe(401);
    const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'router-key', maxRetries: 0 });
    const r = await client.completions.create({ model: MODEL, prompt: 'hi', max_tokens: 2, ...IGNORE_EOS });
    expect(r.usage!.completion_tokens).toBe(2);
    expect(core.decisions).toHaveLength(1);
  });

  it("passes the client's Authorization through when no instance key is set", async () => {
    const { url } = await cluster({}, { server: { apiKey: 'shared-key' } });
    const body = JSON.stringify({ model: MODEL, prompt: 'hi', max_tokens: 2 });
    expect((await post(`${url}/v1/completions`, body)).status).toBe(401);
    expect((await post(`${url}/v1/completions`, body, { authorization: 'Bearer shared-key' })).status).toBe(200);
  });
});

describe('router: request limits', () => {
  it('refuses bodies over the limit (declared or chunked) with 413 and non-JSON POSTs with 415', async () => {
    const { url, core } = await cluster({ maxBodyBytes: 1_000 });
    const big = JSON.stringify({ model: MODEL, prompt: 'x'.repeat(2_000), max_tokens: 2 });
    const declared = await post(`${url}/v1/completions`, big);
    expect(declared.status).toBe(413);
    expect(((await declared.json()) as { error: { code: string } }).error.code).toBe('request_too_large');
    const bytes = new TextEncoder().encode(big);
    const chunked = await fetch(`${url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: new ReadableStream({
        start(c) {
          for (let at = 0; at < bytes.length; at += 256) c.enqueue(bytes.slice(at, at + 256));
          c.close();
        },
      }),
      duplex: 'half',
    } as RequestInit);
    expect(chunked.status).toBe(413);
    const text = await fetch(`${url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: JSON.stringify({ model: MODEL, prompt: 'hi' }),
    });
    expect(text.status).toBe(415);
    expect(core.decisions).toEqual([]);
    const small = await post(`${url}/v1/completions`, JSON.stringify({ model: MODEL, prompt: 'hi', max_tokens: 2 }));
    expect(small.status).toBe(200);
  });
});

describe('router: cancellation', () => {
  const long = (stream: boolean) =>
    JSON.stringify({ model: MODEL, prompt: 'go on', max_tokens: 900, stream, ...IGNORE_EOS });

  it('a client abandoning a non-streamed request ends it on the instance', async () => {
    const { url, instance } = await cluster();
    const abort = new AbortController();
    const pending = fetch(`${url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: long(false),
      signal: abort.signal,
    }).catch((e: unknown) => e);
    await until(() => instance.engine.stats().runningRequests === 1, 'the request to run on the instance');
    abort.abort();
    await pending;
    await until(() => instance.state.activeRequests === 0, 'the instance to drop the request', 3_000);
    expect(instance.engine.stats().runningRequests).toBe(0);
  });

  it('a client closing a stream ends it on the instance', async () => {
    const { url, instance } = await cluster();
    const res = await post(`${url}/v1/completions`, long(true));
    const reader = res.body!.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    expect(first).toContain('data:');
    expect(instance.state.activeRequests).toBe(1);
    await reader.cancel();
    await until(() => instance.state.activeRequests === 0, 'the instance to drop the stream', 3_000);
    expect(instance.engine.stats().runningRequests).toBe(0);
  });
});

describe('router: /v1/models over the cluster', () => {
  it('lists every model and adapter once, with the instances serving each and where each adapter is resident', async () => {
    const core = new RouterCore({ staleMs: 60_000, log: () => {} });
    const record = (id: string, adapters: string[], resident: string[]): InstanceInfo => ({
      id,
      baseUrl: 'http://127.0.0.1:9',
      models: ['base-a'],
      adapters,
      residentAdapters: resident,
      maxRunning: 2,
      maxQueued: 2,
      activeRequests: 0,
      runningRequests: 0,
      waitingRequests: 0,
      pagesTotal: 8,
      pagesFree: 8,
      device: 'cpu',
      draining: false,
      healthy: true,
      at: Date.now(),
    });
    core.roster.update(record('i1', ['x', 'y'], ['y']));
    core.roster.update(record('i0', ['x'], ['x']));
    core.roster.update({ ...record('i2', ['z'], ['z']), draining: true });
    const router = await listenRouter(core);
    closers.push(() => router.close());
    const list = (await (await fetch(`${router.url}/v1/models`)).json()) as { data: Record<string, unknown>[] };
    const byId = Object.fromEntries(list.data.map((m) => [m.id, m]));
    expect(Object.keys(byId).sort()).toEqual(['base-a', 'x', 'y']);
    expect(byId['base-a']).toMatchObject({ object: 'model', owned_by: 'tessera', instances: ['i0', 'i1'] });
    expect(byId.x).toMatchObject({ parent: 'base-a', root: 'base-a:x', instances: ['i0', 'i1'], resident_on: ['i0'] });
    expect(byId.y).toMatchObject({ instances: ['i1'], resident_on: ['i1'] });
    const sdk = new OpenAI({ baseURL: `${router.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    expect((await sdk.models.list()).data.map((m) => m.id).sort()).toEqual(['base-a', 'x', 'y']);
  });
});
