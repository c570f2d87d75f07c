/**
 * `tessera serve [model]`: the OpenAI-compatible server and chat page over a model. Loading the
 * model is the caller's (`loadRunner`, wired in main.ts: the built-in model when no path is given,
 * with its progress bar); this module owns the engine, the HTTP server and shutdown.
 */
import type { Command } from 'commander';
import { Engine } from '../engine/engine.js';
import type { ModelRunner } from '../engine/model-runner.js';
import type { EngineTokenizer } from '../engine/tokenizer.js';
import { DEFAULT_MAX_BODY_BYTES } from '../server/request-body.js';
import { startServer, type RunningServer } from '../server/node-server.js';

export interface LoadedModel {
  runner: ModelRunner;
  tokenizer: EngineTokenizer;
  modelName: string;
}

export interface ServeOptions {
  host: string;
  port: string;
  apiKey?: string;
  maxConcurrent: string;
  maxQueue: string;
  timeout: string;
  /** Optional for programmatic callers; the CLI always passes its default. */
  maxBodyBytes?: string;
  drainTimeoutS?: string;
  /** Comma-separated origins allowed cross-origin access. */
  cors?: string;
  maxBatchTokens: string;
  prefixCache: boolean;
  structuredOutput: boolean;
}

function positiveInt(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a non-negative integer, got '${value}'`);
  return n;
}

/** Starts serving a loaded model; resolves once listening. */
export async function serveModel(model: LoadedModel, o: ServeOptions): Promise<RunningServer> {
  // Check every option before anything starts.
  const port = positiveInt('port', o.port);
  const maxConcurrent = positiveInt('max-concurrent', o.maxConcurrent);
  const maxQueue = positiveInt('max-queue', o.maxQueue);
  const timeoutMs = positiveInt('timeout', o.timeout) * 1000;
  const maxBatchTokens = positiveInt('max-batch-tokens', o.maxBatchTokens);
  const drainTimeoutMs = positiveInt('drain-timeout-s', o.drainTimeoutS ?? '30') * 1000;
  const maxBodyBytes = positiveInt('max-body-bytes', o.maxBodyBytes ?? String(DEFAULT_MAX_BODY_BYTES));
  const apiKey = o.apiKey ?? process.env.TESSERA_API_KEY;
  const engine = new Engine(model.runner, model.tokenizer, {
    maxBatchTokens,
    maxRunningSeqs: maxConcurrent,
    prefixCaching: o.prefixCache,
  });
  return startServer({
    engine,
    tokenizer: model.tokenizer,
    modelName: model.modelName,
    host: o.host,
    port,
    maxConcurrentRequests: maxConcurrent,
    maxQueuedRequests: maxQueue,
    requestTimeoutMs: timeoutMs,
    maxBodyBytes,
    drainTimeoutMs,
    ...(o.cors
      ? {
          corsOrigins: o.cors
            .split(',')
            .map((x) => x.trim())
            .filter(Boolean),
        }
      : {}),
    structuredOutput: o.structuredOutput,
    ...(apiKey ? { apiKey } : {}),
  });
}

export function registerServeCommand(
  program: Command,
  loadRunner: (modelPath?: string, backend?: string) => Promise<LoadedModel>,
): void {
  program
    .command('serve [model]')
    .description('serve a model (default: the built-in one) over an OpenAI-compatible HTTP API, with a chat page at /')
    .option('--host <host>', 'interface to listen on', '127.0.0.1')
    .option('--port <port>', 'port (0 picks a free one)', '8000')
    .option(
      '--api-key <key>',
      'require Authorization: Bearer <key> everywhere but /health/live (default: $TESSERA_API_KEY, else none)',
    )
    .option('--cors <origins>', "comma-separated origins allowed cross-origin access ('*' for any); default: none")
    .option('--max-concurrent <n>', 'requests generating at once', '64')
    .option('--max-queue <n>', 'requests waiting beyond those before 429', '64')
    .option('--timeout <seconds>', 'cancel requests running longer than this', '600')
    .option('--max-body-bytes <n>', 'refuse request bodies larger than this with 413', String(DEFAULT_MAX_BODY_BYTES))
    .option('--drain-timeout-s <seconds>', 'on SIGTERM/SIGINT, let requests in flight finish this long', '30')
    .option('--max-batch-tokens <n>', 'tokens per engine step (decodes + prefill chunks)', '512')
    .option('--no-prefix-cache', 'do not reuse KV pages of earlier prompts')
    .option('--no-structured-output', 'turn off response_format / forced tool calls (xgrammar)')
    .option('--backend <name>', 'webgpu, cpu or auto (default: $TESSERA_BACKEND, else auto)')
    .action(async (modelPath: string | undefined, o: ServeOptions & { backend?: string }) => {
      const model = await loadRunner(modelPath, o.backend);
      const server = await serveModel(model, o);
      const r = model.runner;
      console.log(
        `Serving ${model.modelName} (context ${r.maxContext}, ${r.numPages} KV pages of ${r.pageSize} tokens)`,
      );
      console.log(`  chat page:  ${server.url}/`);
      console.log(`  OpenAI API: ${server.url}/v1  (metrics at ${server.url}/metrics)`);
      let stopping = false;
      const stop = async () => {
        if (stopping) process.exit(1); // a second Ctrl-C: do not wait
        stopping = true;
        console.log(
          `\nDraining: no new requests; waiting up to ${o.drainTimeoutS ?? '30'} s for those in flight (again to exit now)…`,
        );
        await server.close();
        process.exit(0);
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
}
