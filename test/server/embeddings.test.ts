/**
 * /v1/embeddings through the official `openai` SDK, served beside a chat model in one process:
 * a tiny random BERT checkpoint (sentence-transformers layout, seed printed) against the float64
 * reference of test/models/bert; base64 (the SDK's default) and float encodings; strings, lists and
 * token ids; usage; dimensions; routing by `model`; /v1/models and readiness over both models.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CpuBackend } from '../../src/backends/cpu/cpu-backend.js';
import type { BertModelConfig } from '../../src/models/bert/bert-config.js';
import { BertEncoder } from '../../src/models/bert/bert-encoder.js';
import { writeRandomBertCheckpoint } from '../../src/models/bert/random-checkpoint.js';
import { engineTokenizer } from '../../src/models/engine-tokenizer.js';
import type { OpenedModel } from '../../src/models/family.js';
import { openModel } from '../../src/models/open-model.js';
import { readWeights, referenceEmbedding, TINY_BERT, type Weights } from '../models/bert/bert-reference.js';
import { startTestServer, type TestServer } from './helpers.js';

const SEED = 7031;
const EMBED = 'tiny-bert';
const REF = TINY_BERT;

describe('/v1/embeddings beside a chat model', () => {
  let dir: string;
  let model: OpenedModel<BertModelConfig>;
  let weights: Weights;
  let encoder: BertEncoder;
  let s: TestServer;
  const ids = (text: string) => model.tokenizer!.encode(text);
  const expectClose = (got: readonly number[], text: string) => {
    const want = referenceEmbedding(weights, REF, ids(text));
    expect(got).toHaveLength(32);
    const err = Math.max(...got.map((v, i) => Math.abs(v - want[i]!)));
    expect(err, `'${text}': max error ${err}`).toBeLessThan(1e-5);
  };

  beforeAll(async () => {
    console.log(`[embeddings] checkpoint seed ${SEED}`);
    dir = await mkdtemp(join(tmpdir(), 'tessera-embed-'));
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
    model = (await openModel(dir)) as OpenedModel<BertModelConfig>;
    weights = await readWeights(model.weights);
    encoder = await BertEncoder.load(model, { backend: new CpuBackend(), maxTokens: 24, maxTexts: 4 });
    s = await startTestServer({
      server: {
        models: [{ kind: 'embedding', name: EMBED, embedder: encoder, tokenizer: engineTokenizer(model.tokenizer!) }],
      },
    });
  });
  afterAll(async () => {
    await s?.close();
    encoder?.destroy();
    await model?.weights.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('embeds a string (base64, the SDK default) and the same as floats, equal to the float64 reference', async () => {
    const b64 = await s.client.embeddings.create({ model: EMBED, input: 'hello world' });
    const float = await s.client.embeddings.create({ model: EMBED, input: 'hello world', encoding_format: 'float' });
    expect(b64.object).toBe('list');
    expect(b64.model).toBe(EMBED);
    expect(b64.data[0]!.object).toBe('embedding');
    expect(b64.data[0]!.embedding).toEqual(float.data[0]!.embedding);
    expectClose(float.data[0]!.embedding, 'hello world');
    expect(float.usage).toEqual({ prompt_tokens: ids('hello world').length, total_tokens: ids('hello world').length });
    const norm = Math.hypot(...float.data[0]!.embedding);
    expect(norm).toBeCloseTo(1, 5);
  });

  it('keeps the order of a list, over several encoder batches, and counts every token', async () => {
    const texts = ['the cat sat on the mat.', 'a dog!', 'hello', 'is the world good?', 'zebra crossing', 'cat dog'];
    const r = await s.client.embeddings.create({ model: EMBED, input: texts, encoding_format: 'float' });
    expect(r.data.map((d) => d.index)).toEqual(texts.map((_, i) => i));
    r.data.forEach((d, i) => expectClose(d.embedding, texts[i]!));
    expect(r.usage.prompt_tokens).toBe(texts.reduce((n, t) => n + ids(t).length, 0));
  });

  it('takes token ids, one array or several', async () => {
    const one = await s.client.embeddings.create({ model: EMBED, input: ids('a dog!'), encoding_format: 'float' });
    expectClose(one.data[0]!.embedding, 'a dog!');
    const two = await s.client.embeddings.create({
      model: EMBED,
      input: [ids('hello'), ids('the mat')],
      encoding_format: 'float',
    });
    expectClose(two.data[1]!.embedding, 'the mat');
    expect(two.usage.prompt_tokens).toBe(ids('hello').length + ids('the mat').length);
  });

  it('accepts dimensions equal to the model’s and refuses others, empty input, long input and bad ids', async () => {
    await s.client.embeddings.create({ model: EMBED, input: 'x', dimensions: 32 });
    const fail = (p: Promise<unknown>) =>
      p.then(
        () => expect.unreachable('succeeded'),
        (e: unknown) => e as InstanceType<typeof OpenAI.APIError>,
      );
    const dims = await fail(s.client.embeddings.create({ model: EMBED, input: 'x', dimensions: 16 }));
    expect(dims).toBeInstanceOf(OpenAI.BadRequestError);
    expect(dims.param).toBe('dimensions');
    expect(await fail(s.client.embeddings.create({ model: EMBED, input: '' }))).toBeInstanceOf(OpenAI.BadRequestError);
    const long = await fail(s.client.embeddings.create({ model: EMBED, input: 'a '.repeat(40) }));
    expect(long.code).toBe('context_length_exceeded');
    const bad = await fail(s.client.embeddings.create({ model: EMBED, input: [2, 999, 3] }));
    expect(bad).toBeInstanceOf(OpenAI.BadRequestError);
  });

  it('routes by model: unknown names and a model of the other kind are 404 model_not_found', async () => {
    const fail = (p: Promise<unknown>) =>
      p.then(
        () => expect.unreachable('succeeded'),
        (e: unknown) => e as InstanceType<typeof OpenAI.APIError>,
      );
    const unknown = await fail(s.client.embeddings.create({ model: 'nope', input: 'x' }));
    expect(unknown).toBeInstanceOf(OpenAI.NotFoundError);
    expect(unknown.code).toBe('model_not_found');
    const chatOnEncoder = await fail(
      s.client.chat.completions.create({ model: EMBED, messages: [{ role: 'user', content: 'hi' }] }),
    );
    expect(chatOnEncoder).toBeInstanceOf(OpenAI.NotFoundError);
    expect(chatOnEncoder.code).toBe('model_not_found');
    // the chat model still answers under its own name
    const chat = await s.client.chat.completions.create({
      model: s.model.modelName,
      messages: [{ role: 'user', content: 'hi' }],
      max_tokens: 3,
    });
    expect(chat.model).toBe(s.model.modelName);
  });

  it('lists both models and is ready only as both are', async () => {
    const list = [];
    for await (const m of s.client.models.list()) list.push(m.id);
    expect(list).toEqual([s.model.modelName, EMBED]);
    expect((await s.client.models.retrieve(EMBED)).id).toBe(EMBED);
    const ready = await fetch(`${s.url}/health/ready`);
    expect(ready.status).toBe(200);
    const body = (await ready.json()) as { models: { id: string; status: string }[] };
    expect(body.models.map((m) => [m.id, m.status])).toEqual([
      [s.model.modelName, 'ok'],
      [EMBED, 'ok'],
    ]);
  });
});
