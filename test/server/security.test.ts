/**
 * Safe defaults: no CORS unless origins are listed (then preflights for those origins only),
 * POSTs that are not JSON get 415, a key guards everything but liveness, readiness is separate
 * from liveness, and binding beyond loopback without a key warns once.
 */
import OpenAI from 'openai';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { isLoopback } from '../../src/server/security.js';
import { CHAT_PAGE_HTML } from '../../src/server/web/chat-page.js';
import { startTestServer, type TestServer } from './helpers.js';

const MODEL = 'tessera-toy';
const servers: TestServer[] = [];
async function server(options: Parameters<typeof startTestServer>[0] = {}) {
  const s = await startTestServer(options);
  servers.push(s);
  return s;
}
afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

const preflight = (url: string, origin: string) =>
  fetch(`${url}/v1/chat/completions`, {
    method: 'OPTIONS',
    headers: {
      origin,
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'authorization,content-type',
    },
  });

describe('CORS', () => {
  it('is off by default: no grant on preflight or on responses', async () => {
    const s = await server();
    const pre = await preflight(s.url, 'https://evil.example');
    expect(pre.headers.get('access-control-allow-origin')).toBeNull();
    const models = await fetch(`${s.url}/v1/models`, { headers: { origin: 'https://evil.example' } });
    expect(models.status).toBe(200);
    expect(models.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('with --cors, grants the listed origins only', async () => {
    const s = await server({ server: { corsOrigins: ['https://app.example'] } });
    const ok = await preflight(s.url, 'https://app.example');
    expect(ok.status).toBeLessThan(300);
    expect(ok.headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect(ok.headers.get('access-control-allow-methods')).toContain('POST');
    expect(ok.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('authorization');
    const other = await preflight(s.url, 'https://evil.example');
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
    const res = await fetch(`${s.url}/v1/models`, { headers: { origin: 'https://app.example' } });
    expect(res.headers.get('access-control-allow-origin')).toBe('https://app.example');
  });
});

describe('Content-Type', () => {
  it('answers 415 in OpenAI shape to a POST that is not JSON (a cross-site form or text/plain)', async () => {
    const s = await server();
    const body = JSON.stringify({ model: MODEL, prompt: 'hi', max_tokens: 2 });
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', null]) {
      const res = await fetch(`${s.url}/v1/completions`, {
        method: 'POST',
        body: new Blob([body], type ? { type } : {}),
      });
      expect(res.status).toBe(415);
      const err = (await res.json()) as { error: { code: string; type: string } };
      expect(err.error).toMatchObject({ code: 'unsupported_media_type', type: 'invalid_request_error' });
    }
    const json = await fetch(`${s.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=utf-8' },
      body,
    });
    expect(json.status).toBe(200);
  });
});

describe('API key', () => {
  it('guards every endpoint but liveness', async () => {
    const s = await server({ server: { apiKey: 'sekret' } });
    for (const path of ['/health', '/health/ready', '/metrics', '/v1/models']) {
      expect((await fetch(`${s.url}${path}`)).status, path).toBe(401);
      const authed = await fetch(`${s.url}${path}`, { headers: { authorization: 'Bearer sekret' } });
      expect(authed.status, path).toBe(200);
    }
    expect((await fetch(`${s.url}/health/live`)).status).toBe(200);
    const noKey = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: 'wrong', maxRetries: 0 });
    await expect(noKey.completions.create({ model: MODEL, prompt: 'x', max_tokens: 1 })).rejects.toBeInstanceOf(
      OpenAI.AuthenticationError,
    );
    const done = await s.client.completions.create({ model: MODEL, prompt: 'x', max_tokens: 1 });
    expect(done.choices).toHaveLength(1);
  });

  it('the chat page keeps the key for the tab only (sessionStorage)', () => {
    expect(CHAT_PAGE_HTML).toContain("sessionStorage.getItem('tessera.apiKey')");
    expect(CHAT_PAGE_HTML).not.toContain('localStorage');
  });
});

describe('health', () => {
  it('liveness stays 200 while readiness turns 503 on engine failure', async () => {
    const s = await server();
    const runner = s.engine.runner as { forward: (...a: unknown[]) => Promise<Float32Array> };
    runner.forward = async () => {
      throw new Error('device lost (simulated)');
    };
    await s.client.completions.create({ model: MODEL, prompt: 'x', max_tokens: 2 }).catch(() => {});
    expect((await fetch(`${s.url}/health/live`)).status).toBe(200);
    expect((await fetch(`${s.url}/health/ready`)).status).toBe(503);
    expect((await fetch(`${s.url}/health`)).status).toBe(503);
  });
});

describe('binding', () => {
  it('warns once when listening beyond loopback without a key', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    await server({ server: { host: '0.0.0.0' } as never });
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0]![0])).toContain('without an API key');
    warn.mockClear();
    await server({ server: { host: '0.0.0.0', apiKey: 'k' } as never });
    await server();
    expect(warn).not.toHaveBeenCalled();
    expect(['127.0.0.1', '::1', '[::1]', 'localhost', '127.3.2.1'].every(isLoopback)).toBe(true);
    expect(['0.0.0.0', '::', '192.168.1.5', 'example.com'].some(isLoopback)).toBe(false);
  });
});
