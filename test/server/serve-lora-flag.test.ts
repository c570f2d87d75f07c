/**
 * `tessera serve --lora name=path`: the flags turn LoRA slots on in the runner, the named adapters
 * are served from the start (listed in /v1/models, picked through `model`), and a malformed
 * `--lora` is refused before anything loads. Built-in model on the CPU backend; adapter seed printed.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { loadChatModel } from '../../src/cli/load.js';
import { addStartupAdapters, loraSlots, loraSpecs, serveModel } from '../../src/cli/serve.js';
import { writeRandomPeftAdapter } from '../../src/lora/random-adapter.js';
import { loraShapesOf } from '../../src/models/llama/adapter-graph.js';
import { openLlamaModel } from '../../src/models/llama/llama-family.js';
import { serveCommandOptions, TEST_SERVE_OPTIONS } from './serve-test-options.js';

const builtin = new URL('../../models/builtin/', import.meta.url).pathname;
const SEED = 77;

const base = { ...TEST_SERVE_OPTIONS, maxQueue: '4', timeout: '60' };

describe('tessera serve --lora', () => {
  it('registers --lora, --max-loras and --max-lora-rank', () => {
    const flags = serveCommandOptions().map((o) => o.long);
    for (const f of ['--lora', '--max-loras', '--max-lora-rank']) expect(flags).toContain(f);
  });

  it('refuses a malformed --lora and sizes the slots from the flags', () => {
    expect(() => loraSpecs({ ...base, lora: ['nopath'] })).toThrow(/name=path/);
    expect(loraSlots(base)).toBeUndefined();
    expect(loraSlots({ ...base, lora: ['a=/x'] })).toEqual({ slots: 4, rmax: 64 });
    expect(loraSlots({ ...base, maxLoras: '2', maxLoraRank: '8' })).toEqual({ slots: 2, rmax: 8 });
  });

  it('serves the --lora adapters from the start', async () => {
    console.log(`[serve --lora] adapter seed ${SEED}`);
    const dir = await mkdtemp(join(tmpdir(), 'tessera-serve-lora-'));
    const opened = await openLlamaModel(builtin);
    await writeRandomPeftAdapter(join(dir, 'tiny'), loraShapesOf(opened.config), {
      rank: 2,
      targets: ['q_proj', 'v_proj'],
      seed: SEED,
    });
    await opened.weights.close();
    const o = { ...base, lora: [`tiny=${join(dir, 'tiny')}`], maxLoraRank: '8' };
    const model = await loadChatModel(undefined, 'cpu', loraSlots(o));
    await addStartupAdapters(model, o);
    const server = await serveModel(model, o);
    try {
      const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });
      const ids = (await client.models.list()).data.map((m) => m.id);
      expect(ids).toContain('tiny');
      const r = await client.completions.create({ model: `${model.modelName}:tiny`, prompt: 'the', max_tokens: 3 });
      expect(r.choices[0]!.text.length).toBeGreaterThan(0);
    } finally {
      await server.close();
      model.dispose?.();
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
