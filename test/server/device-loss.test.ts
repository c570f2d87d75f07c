/**
 * A lost GPU device is recovered without a restart (lavapipe in CI): the built-in model serves on
 * its own device, the test destroys that device mid-request, and the server must end the requests
 * in flight with a clear 503 `device_lost` (the stream with an error event, no finish reason),
 * report `recovering` on readiness with the reason, refuse new requests with 503 and Retry-After
 * while the model reloads, keep serving a model on another device, and come back ready with the
 * same greedy tokens as before the loss, through the official `openai` SDK.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeviceLostError } from '../../src/backends/webgpu/errors.js';
import { WebGpuBackend } from '../../src/backends/webgpu/webgpu-backend.js';
import { Engine, type EngineOptions } from '../../src/engine/engine.js';
import type { ChatInstance } from '../../src/server/chat-recovery.js';
import { startServer, type RunningServer } from '../../src/server/node-server.js';
import { loadTestModel } from '../engine/test-model.js';
import { gpuBackend, gpuSkipReason } from '../gpu-setup.js';
import { type LoadedOnDevice, loadBuiltinOnOwnDevice, readiness, releaseOf, until } from './device-loss-helpers.js';

const MODEL = 'tessera-builtin';
const ENGINE: EngineOptions = { maxBatchTokens: 128, maxRunningSeqs: 8, seed: 7 };
const available = await gpuBackend();

type Loaded = LoadedOnDevice;

/** The loader closure: a device of its own, the weights uploaded to it. */
const load = () => loadBuiltinOnOwnDevice({ maxTokens: 128, maxSeqs: 8, numPages: 64 });
const release = releaseOf;

describe.skipIf(!available)(`recovery from a lost device${available ? '' : ` (skipped: ${gpuSkipReason()})`}`, () => {
  let server: RunningServer;
  let client: OpenAI;
  let first: Loaded;
  let reloads = 0;
  let openGate!: () => void;
  const gate = new Promise<void>((r) => (openGate = r));

  beforeAll(async () => {
    first = await load();
    const toy = await loadTestModel();
    server = await startServer({
      engine: new Engine(first.runner, first.tokenizer, ENGINE),
      tokenizer: first.tokenizer,
      modelName: MODEL,
      // a model on another device (the toy runner on the host) must keep serving meanwhile
      models: [
        { kind: 'chat', name: 'tessera-toy', engine: new Engine(toy.runner, toy.tokenizer), tokenizer: toy.tokenizer },
      ],
      recovery: {
        lost: first.backend.lost,
        dispose: release(first),
        reload: async (): Promise<ChatInstance> => {
          // held until the test has seen the recovering state
          await gate;
          reloads++;
          const m = await load();
          return { engine: new Engine(m.runner, m.tokenizer, ENGINE), lost: m.backend.lost, dispose: release(m) };
        },
      },
      recoveryPolicy: { backoffMs: 10, maxAttempts: 3 },
    });
    client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 120_000 });
  }, 120_000);
  afterAll(async () => {
    openGate();
    await server?.close();
  });

  it('fails in-flight requests clearly, reports recovering, reloads and serves the same greedy tokens', async () => {
    const chat = {
      model: MODEL,
      messages: [{ role: 'user' as const, content: 'What did the jury say?' }],
      max_tokens: 12,
      temperature: 0,
      logprobs: true,
    };
    const tokensOf = (r: OpenAI.Chat.Completions.ChatCompletion) =>
      r.choices[0]!.logprobs!.content!.map((t) => t.token);
    const before = await client.chat.completions.create(chat);
    expect(tokensOf(before)).toHaveLength(12);
    expect((await readiness(server.url)).status).toBe(200);

    // Two requests in flight when the device goes: one streamed, one not.
    const long = {
      model: MODEL,
      messages: [{ role: 'user' as const, content: 'Tell me about the election.' }],
      max_tokens: 200,
      temperature: 0,
      ignore_eos: true,
    } as OpenAI.Chat.Completions.ChatCompletionCreateParamsNonStreaming;
    const plain = client.chat.completions.create(long).then(
      () => null,
      (e: unknown) => e,
    );
    const stream = await client.chat.completions.create({ ...long, stream: true });
    const finishes: (string | null)[] = [];
    let deltas = 0;
    let streamError: unknown = null;
    try {
      for await (const chunk of stream) {
        const choice = chunk.choices[0];
        if (choice?.finish_reason) finishes.push(choice.finish_reason);
        if (choice?.delta.content && ++deltas === 2) first.backend.device.destroy();
      }
    } catch (e) {
      streamError = e;
    }
    expect(finishes).toEqual([]);
    expect(streamError).toBeInstanceOf(OpenAI.APIError);
    expect(streamError).toMatchObject({ code: 'device_lost', type: 'server_error' });
    expect((streamError as Error).message).toContain('was lost before this request finished');
    const plainError = await plain;
    expect(plainError).toBeInstanceOf(OpenAI.APIError);
    expect(plainError).toMatchObject({ status: 503, code: 'device_lost' });

    // Recovering: not ready, with the reason; new requests refused with Retry-After.
    const during = await until('readiness to say recovering', async () => {
      const r = await readiness(server.url);
      return r.body.status === 'recovering' ? r : null;
    });
    expect(during.status).toBe(503);
    expect(during.retryAfter).toBe('1');
    expect(during.body.error).toContain('the GPU device was lost');
    expect(during.body.models.find((m) => m.id === MODEL)?.status).toBe('recovering');
    const refused = await client.chat.completions.create(chat).then(
      () => null,
      (e: unknown) => e,
    );
    expect(refused).toMatchObject({ status: 503, code: 'model_recovering' });
    expect((refused as InstanceType<typeof OpenAI.APIError>).headers?.get('retry-after')).toBe('1');
    // the model on its own device serves on
    const toy = await client.chat.completions.create({
      model: 'tessera-toy',
      messages: [{ role: 'user', content: 'hi' }],
      max_tokens: 3,
    });
    expect(toy.choices[0]!.finish_reason).toBe('length');

    openGate();
    await until('readiness to return', async () => ((await readiness(server.url)).status === 200 ? true : null));
    expect(reloads).toBe(1);
    const after = await client.chat.completions.create(chat);
    expect(tokensOf(after)).toEqual(tokensOf(before));
    expect(after.choices[0]!.message.content).toBe(before.choices[0]!.message.content);
    expect(server.state.engine).not.toBe(undefined);
  }, 180_000);

  it("Backend.lost resolves for a loss, not for the backend's own destroy()", async () => {
    const lostOne = await WebGpuBackend.create({ skipSelfTest: true });
    lostOne.device.destroy();
    const reason = await lostOne.lost;
    expect(reason).toBeInstanceOf(DeviceLostError);
    expect(reason.message).toContain('the GPU device was lost (destroyed');
    // later calls fail with it rather than with whatever Dawn says about a dead device
    expect(() => lostOne.alloc({ dtype: 'f32', shape: [4] })).toThrow(DeviceLostError);

    const closed = await WebGpuBackend.create({ skipSelfTest: true });
    const settled = closed.lost.then(() => 'resolved');
    closed.destroy();
    await closed.device.lost;
    await new Promise((r) => setTimeout(r, 50));
    expect(await Promise.race([settled, Promise.resolve('pending')])).toBe('pending');
  });
});
