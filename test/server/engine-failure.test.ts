/**
 * A failed model step must not leave a server that says ok and returns 500s: in-flight requests
 * fail with a clear error, `/health` turns 503 with the reason, and new requests get 503.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './helpers.js';

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer();
});
afterAll(async () => {
  await s.close();
});

describe('engine failure', () => {
  it('fails in-flight work, reports failing health and refuses new requests', async () => {
    const ok = await fetch(`${s.url}/health`);
    expect(ok.status).toBe(200);
    // the next forward throws, as a lost device or a rejected dispatch would
    const runner = s.engine.runner as { forward: (...a: unknown[]) => Promise<Float32Array> };
    runner.forward = async () => {
      throw new Error('device lost (simulated)');
    };
    const inFlight = s.client.completions.create({ model: 'tessera-toy', prompt: 'hello', max_tokens: 4 });
    await expect(inFlight).rejects.toMatchObject({
      status: 500,
      message: expect.stringContaining('device lost (simulated)'),
    });
    const health = await fetch(`${s.url}/health`);
    expect(health.status).toBe(503);
    const body = (await health.json()) as { status: string; error: string };
    expect(body.status).toBe('failing');
    expect(body.error).toContain('device lost (simulated)');
    const next = s.client.completions.create({ model: 'tessera-toy', prompt: 'again', max_tokens: 4 });
    await expect(next).rejects.toMatchObject({ status: 503 });
  });
});
