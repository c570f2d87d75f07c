/**
 * An embedding model comes back after its GPU device is lost (lavapipe in CI), like a chat model
 * (device-loss.test.ts): a tiny random BERT (seed printed) loaded through the CLI's loader
 * (`loadEmbeddingModel`, whose reload the server keeps) serves beside a chat model on the host;
 * the test destroys the encoder's device while a request is in flight. That request must end with
 * 503 `device_lost`, readiness must say `recovering`, new embedding requests get 503
 * `model_recovering` with Retry-After, the chat model serves on, and after the reload the vectors
 * equal those from before the loss and the float64 reference, through the official `openai` SDK.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WebGpuBackend } from '../../src/backends/webgpu/webgpu-backend.js';
import { loadEmbeddingModel } from '../../src/cli/load.js';
import { Engine } from '../../src/engine/engine.js';
import type { BertEncoder } from '../../src/models/bert/bert-encoder.js';
import { writeRandomBertCheckpoint } from '../../src/models/bert/random-checkpoint.js';
import type { EmbeddingInstance } from '../../src/server/embedding-recovery.js';
import { startServer, type RunningServer } from '../../src/server/node-server.js';
import type { Embedder } from '../../src/server/served-models.js';
import { readWeights, referenceEmbedding, TINY_BERT, type Weights } from '../models/bert/bert-reference.js';
import { openModel } from '../../src/models/open-model.js';
import { loadTestModel } from '../engine/test-model.js';
import { gpuBackend, gpuSkipReason } from '../gpu-setup.js';
import { readiness, until } from './device-loss-helpers.js';

const SEED = 4127;
const EMBED = 'tiny-bert';
const REF = TINY_BERT;
const TEXTS = ['the cat sat on the mat.', 'hello world', 'a dog!'];
const available = await gpuBackend();

const settle = (p: Promise<unknown>) =>
  p.then(
    () => null,
    (e: unknown) => e as InstanceType<typeof OpenAI.APIError>,
  );

describe.skipIf(!available)(
  `embeddings through a lost device${available ? '' : ` (skipped: ${gpuSkipReason()})`}`,
  () => {
    let dir: string;
    let weights: Weights;
    let ids: (text: string) => number[];
    let server: RunningServer;
    let client: OpenAI;
    let firstBackend: WebGpuBackend;
    let reloads = 0;
    let openReload!: () => void;
    const reloadGate = new Promise<void>((r) => (openReload = r));
    // the first embed call after `holdNext` waits here, so a request is surely in flight at the loss
    let holdNext = false;
    let held!: () => void;
    const inFlight = new Promise<void>((r) => (held = r));
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));

    beforeAll(async () => {
      console.log(`[device-loss-embeddings] checkpoint seed ${SEED}`);
      dir = join(await mkdtemp(join(tmpdir(), 'tessera-embed-loss-')), EMBED);
      await writeRandomBertCheckpoint(
        dir,
        {
          hidden_size: 32,
          num_hidden_layers: 2,
          num_attention_heads: 4,
          intermediate_size: 64,
          max_position_embeddings: 24,
        },
        { seed: SEED },
      );
      const opened = await openModel(dir);
      try {
        weights = await readWeights(opened.weights);
        ids = (text) => opened.tokenizer!.encode(text);
      } finally {
        await opened.weights.close();
      }
      const first = await loadEmbeddingModel(dir, 'webgpu');
      expect(first.lost, 'a WebGPU encoder can report its loss').toBeDefined();
      expect(first.reload).toBeDefined();
      firstBackend = (first.embedder as BertEncoder).backend as WebGpuBackend;
      const real = first.embedder;
      const holding: Embedder = {
        dimensions: real.dimensions,
        maxContext: real.maxContext,
        vocabSize: real.vocabSize,
        embed: async (texts) => {
          if (holdNext) {
            holdNext = false;
            held();
            await released;
          }
          return real.embed(texts);
        },
      };
      const toy = await loadTestModel();
      server = await startServer({
        engine: new Engine(toy.runner, toy.tokenizer),
        tokenizer: toy.tokenizer,
        modelName: 'tessera-toy',
        models: [
          {
            kind: 'embedding',
            name: EMBED,
            embedder: holding,
            tokenizer: first.tokenizer,
            recovery: {
              lost: first.lost!,
              ...(first.dispose ? { dispose: first.dispose } : {}),
              reload: async (): Promise<EmbeddingInstance> => {
                // held until the test has seen the recovering state
                await reloadGate;
                reloads++;
                const r = await first.reload!();
                return {
                  embedder: r.embedder,
                  ...(r.lost ? { lost: r.lost } : {}),
                  ...(r.dispose ? { dispose: r.dispose } : {}),
                };
              },
            },
          },
        ],
        recoveryPolicy: { backoffMs: 10, maxAttempts: 3 },
      });
      client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 120_000 });
    }, 120_000);
    afterAll(async () => {
      openReload();
      release();
      await server?.close();
      if (dir) await rm(join(dir, '..'), { recursive: true, force: true });
    });

    it('ends the request in flight, reports recovering, reloads and gives the same vectors', async () => {
      const embed = () => client.embeddings.create({ model: EMBED, input: TEXTS });
      const before = await embed();
      expect(before.data).toHaveLength(TEXTS.length);
      expect((await readiness(server.url)).status).toBe(200);

      holdNext = true;
      const pending = settle(embed());
      await inFlight;
      firstBackend.device.destroy();
      const lostError = await pending;
      release();
      expect(lostError).toBeInstanceOf(OpenAI.APIError);
      expect(lostError).toMatchObject({ status: 503, code: 'device_lost', type: 'server_error' });
      expect(lostError!.headers?.get('retry-after')).toBe('1');

      const during = await until('readiness to say recovering', async () => {
        const r = await readiness(server.url);
        return r.body.status === 'recovering' ? r : null;
      });
      expect(during.status).toBe(503);
      expect(during.retryAfter).toBe('1');
      expect(during.body.error).toContain('the GPU device was lost');
      expect(during.body.models.find((m) => m.id === EMBED)?.status).toBe('recovering');
      expect(during.body.models.find((m) => m.id === 'tessera-toy')?.status).toBe('ok');
      const refused = await settle(embed());
      expect(refused).toMatchObject({ status: 503, code: 'model_recovering' });
      expect(refused!.headers?.get('retry-after')).toBe('1');
      // the chat model on the host serves on
      const chat = await client.chat.completions.create({
        model: 'tessera-toy',
        messages: [{ role: 'user', content: 'hi' }],
        max_tokens: 3,
      });
      expect(chat.choices[0]!.finish_reason).toBe('length');

      openReload();
      await until('readiness to return', async () => ((await readiness(server.url)).status === 200 ? true : null));
      expect(reloads).toBe(1);
      const after = await embed();
      expect(after.data.map((d) => d.index)).toEqual(TEXTS.map((_, i) => i));
      after.data.forEach((d, i) => {
        const was = before.data[i]!.embedding;
        const drift = Math.max(...d.embedding.map((v, k) => Math.abs(v - was[k]!)));
        expect(drift, `'${TEXTS[i]}': largest change across the reload`).toBeLessThan(1e-6);
        const want = referenceEmbedding(weights, REF, ids(TEXTS[i]!));
        const err = Math.max(...d.embedding.map((v, k) => Math.abs(v - want[k]!)));
        expect(err, `'${TEXTS[i]}': max error against the float64 reference`).toBeLessThan(1e-5);
      });
    }, 180_000);
  },
);
