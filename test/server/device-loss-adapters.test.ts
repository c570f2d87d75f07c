/**
 * A chat model that served LoRA adapters comes back from a lost device with them (lavapipe in CI):
 * one adapter registered before the server starts (as `tessera serve --lora` does) and one added
 * through POST /v1/adapters. After the device is destroyed and the model reloaded on a new one, a
 * request naming either adapter gives the same greedy tokens as before the loss, through the
 * official `openai` SDK. The random adapters' seeds are printed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine, type EngineOptions } from '../../src/engine/engine.js';
import { loadPeftAdapter } from '../../src/lora/peft-adapter.js';
import { writeRandomPeftAdapter } from '../../src/lora/random-adapter.js';
import { loraShapesOf } from '../../src/models/llama/adapter-graph.js';
import { openLlamaModel } from '../../src/models/llama/llama-family.js';
import type { ChatInstance } from '../../src/server/chat-recovery.js';
import { startServer, type RunningServer } from '../../src/server/node-server.js';
import { gpuBackend, gpuSkipReason } from '../gpu-setup.js';
import { type LoadedOnDevice, loadBuiltinOnOwnDevice, readiness, releaseOf, until } from './device-loss-helpers.js';

const dir = new URL('../../models/builtin/', import.meta.url).pathname;
const MODEL = 'tessera-builtin';
const ENGINE: EngineOptions = { maxBatchTokens: 128, maxRunningSeqs: 4, seed: 7 };
const SEED = 9090;
const available = await gpuBackend();
const tmp = mkdtempSync(join(tmpdir(), 'tessera-loss-lora-'));

type Loaded = LoadedOnDevice;

/** The loader closure: a device of its own, the weights uploaded, LoRA slots but no adapters. */
const load = () => loadBuiltinOnOwnDevice({ maxTokens: 128, maxSeqs: 4, numPages: 32, lora: { slots: 2, rmax: 4 } });
const release = releaseOf;

describe.skipIf(!available)(
  `LoRA adapters through a lost device${available ? '' : ` (skipped: ${gpuSkipReason()})`}`,
  () => {
    let server: RunningServer;
    let client: OpenAI;
    let first: Loaded;
    let reloads = 0;

    beforeAll(async () => {
      console.log(`[loss lora] adapter seeds ${SEED} ('boot', rank 4), ${SEED + 1} ('live', rank 2)`);
      const base = await openLlamaModel(dir);
      const shapes = loraShapesOf(base.config);
      await base.weights.close();
      await writeRandomPeftAdapter(join(tmp, 'boot'), shapes, { rank: 4, targets: ['q_proj', 'v_proj'], seed: SEED });
      await writeRandomPeftAdapter(join(tmp, 'live'), shapes, {
        rank: 2,
        targets: ['o_proj', 'down_proj'],
        seed: SEED + 1,
        strength: 0.2,
      });
      first = await load();
      const registry = first.runner.adapters!;
      registry.add(await loadPeftAdapter(join(tmp, 'boot'), 'boot', registry.base!));
      server = await startServer({
        engine: new Engine(first.runner, first.tokenizer, ENGINE),
        tokenizer: first.tokenizer,
        modelName: MODEL,
        recovery: {
          lost: first.backend.lost,
          dispose: release(first),
          reload: async (): Promise<ChatInstance> => {
            reloads++;
            const m = await load();
            return { engine: new Engine(m.runner, m.tokenizer, ENGINE), lost: m.backend.lost, dispose: release(m) };
          },
        },
        recoveryPolicy: { backoffMs: 10, maxAttempts: 3 },
      });
      client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 120_000 });
    }, 180_000);
    afterAll(async () => {
      await server?.close();
      rmSync(tmp, { recursive: true, force: true });
    });

    it('serves the same greedy tokens for each adapter after the model is reloaded on a new device', async () => {
      const added = await fetch(`${server.url}/v1/adapters`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'live', path: join(tmp, 'live') }),
      });
      expect(added.status).toBe(201);
      const greedy = async (model: string) => {
        const r = await client.chat.completions.create({
          model,
          messages: [{ role: 'user', content: 'What did the jury say?' }],
          max_tokens: 8,
          temperature: 0,
          logprobs: true,
          // a random adapter may make end-of-sequence the first choice; the comparison needs tokens
          ignore_eos: true,
        } as OpenAI.Chat.Completions.ChatCompletionCreateParamsNonStreaming);
        expect(r.model).toBe(model);
        return r.choices[0]!.logprobs!.content!.map((t) => t.token);
      };
      const names = [MODEL, `${MODEL}:boot`, 'live'];
      const before: string[][] = [];
      for (const m of names) before.push(await greedy(m));
      console.log(
        `[loss lora] greedy before the loss: ${names.map((m, i) => `${m} ${JSON.stringify(before[i]!.join(''))}`).join(', ')}`,
      );
      // each adapter changes the output: a server that dropped them would fail the comparison below
      expect(before[1]).not.toEqual(before[0]);
      expect(before[2]).not.toEqual(before[0]);
      for (const tokens of before) expect(tokens).toHaveLength(8);

      first.backend.device.destroy();
      await until('the model to be recovering', async () =>
        (await readiness(server.url)).status === 503 ? true : null,
      );
      await until('the model to be ready again', async () =>
        (await readiness(server.url)).status === 200 ? true : null,
      );
      expect(reloads).toBe(1);

      const listed = (await client.models.list()).data.map((m) => m.id);
      expect(listed).toEqual(expect.arrayContaining([MODEL, 'boot', 'live']));
      for (let i = 0; i < names.length; i++) expect(await greedy(names[i]!)).toEqual(before[i]);
    }, 300_000);
  },
);
