/** Starts a server on loopback over the test model, with an `openai` SDK client pointed at it. */
import OpenAI from 'openai';
import { Engine, type EngineOptions } from '../../src/engine/engine.js';
import { startServer, type RunningServer } from '../../src/server/node-server.js';
import type { ServerOptions } from '../../src/server/app.js';
import { loadTestModel, type TestModel } from '../engine/test-model.js';
import type { ToyRunnerOptions } from '../engine/toy-runner.js';

export interface TestServer extends RunningServer {
  client: OpenAI;
  model: TestModel;
  engine: Engine;
}

export async function startTestServer(
  options: {
    runner?: Partial<ToyRunnerOptions>;
    engine?: EngineOptions;
    server?: Partial<Omit<ServerOptions, 'engine' | 'tokenizer' | 'modelName'>>;
  } = {},
): Promise<TestServer> {
  const model = await loadTestModel(options.runner);
  const engine = new Engine(model.runner, model.tokenizer, { seed: 11, ...options.engine });
  const server = await startServer({
    engine,
    tokenizer: model.tokenizer,
    modelName: model.modelName,
    ...options.server,
  });
  const client = new OpenAI({
    baseURL: `${server.url}/v1`,
    apiKey: options.server?.apiKey ?? 'unused',
    maxRetries: 0,
    timeout: 60_000,
  });
  return { ...server, client, model, engine };
}
