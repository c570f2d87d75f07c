/**
 * `tessera serve [model] [--model <path>]…`: the OpenAI-compatible server and chat page over one
 * chat model, plus more models (chat or embedding) each under its own name, routed by `model`.
 * Loading is the caller's (wired in main.ts: the built-in model when no path is given, with its
 * progress bar); this module owns the engines (one per chat model, each with the KV pages of its
 * own runner), the HTTP server and shutdown.
 */
import type { KvCacheDtype } from '../attention/kv-quant.js';
import { parseKvCache } from './kv-cache-flag.js';
import { type BackendChoice, openBackend } from '../backends/open.js';
import type { DerainService } from '../server/derain-route.js';
import { derainService } from './derain-service.js';
import { parseLongContextFlag } from './long-context-flag.js';
import { loadPeftAdapter } from '../lora/peft-adapter.js';
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { addServeFlags } from './serve-flags.js';
import { Engine, type EngineOptions } from '../engine/engine.js';
import { NanoPlanCache } from '../engine/nano-search.js';
import type { ModelRunner } from '../engine/model-runner.js';
import { DEFAULT_PREFILL_CHUNK_TOKENS } from '../engine/scheduler.js';
import type { EngineTokenizer } from '../engine/tokenizer.js';
import { DEFAULT_MAX_BODY_BYTES } from '../server/request-body.js';
import { startServer, type RunningServer } from '../server/node-server.js';
import type { ChatRecoverySource } from '../server/chat-recovery.js';
import type { EmbeddingRecoverySource } from '../server/embedding-recovery.js';
import type { Embedder, ModelSpec } from '../server/served-models.js';
import type { RagStore } from '../server/rag-stores.js';
import { openRagBackend, openRagStore, ragSpecs } from './rag-stores.js';
import { joinClusterFromCli } from './serve-cluster.js';

export interface LoadedModel {
  runner: ModelRunner;
  tokenizer: EngineTokenizer;
  modelName: string;
  /** Resolves when the runner's device is lost (`Backend.lost`); absent on the CPU backend. */
  lost?: Promise<Error>;
  /** Loads this model again on a new device: the server calls it after `lost`. */
  reload?: () => Promise<LoadedModel>;
  /** Releases the runner and its backend. */
  dispose?: () => void;
  /** The backend and card, as the cluster record names it. */
  device?: string;
}

/** An encoder served on /v1/embeddings, with what recovery from a lost device needs (as `LoadedModel`). */
export interface LoadedEmbeddingModel {
  embedder: Embedder;
  tokenizer: EngineTokenizer;
  modelName: string;
  lost?: Promise<Error>;
  reload?: () => Promise<LoadedEmbeddingModel>;
  dispose?: () => void;
}

/** What `--model` loads: a chat model, or an encoder served on /v1/embeddings. */
export type LoadedServedModel = (LoadedModel & { kind?: 'chat' }) | (LoadedEmbeddingModel & { kind: 'embedding' });

export interface ServeOptions {
  /** `--kv-cache`: f16, int8 or int4 KV pages. */
  kvCache?: string;
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
  /** Optional for programmatic callers; the CLI always passes its default. */
  prefillChunkTokens?: string;
  /** `--prefill-itl-ratio`: prefill chunks sized by measured step times (EngineOptions.prefillItlRatio). */
  prefillItlRatio?: string;
  prefixCache: boolean;
  structuredOutput: boolean;
  /** More models to serve (`--model`, repeatable). */
  model?: string[];
  /** LoRA adapters to serve from the start, `name=path` (`--lora`, repeatable). */
  lora?: string[];
  /** Device slots for adapters (turns LoRA on without `--lora`). */
  maxLoras?: string;
  maxLoraRank?: string;
  /** Datastores for the chat completions' `rag` field, `name=folder` (`--rag`, repeatable). */
  rag?: string[];
  /** NATS URL of a cluster to join (`--cluster`), with this instance's id and the URL the router reaches it at. */
  cluster?: string;
  instanceId?: string;
  advertiseUrl?: string;
  /** `--nano-batches`: auto, a count, or off (docs/nanoflow.md). */
  nanoBatches?: string;
  /** `--nano-plan`: the plan cache file `auto` plans from (written by bench/nanoflow.ts). */
  nanoPlan?: string;
  /** A folder of de-raining networks (scripts/derain/train.py's output) behind `/v1/images/derain` and `/derain`. */
  derain?: string;
  /** `--long-context`: the engine's long-context mode (long-context-flag.ts). */
  longContext?: string;
  /** `--warmup`: auto (on a hardware GPU), on or off. */
  warmup?: string;
}

/** Compiles and records the chat models' step shapes before the server listens (`--warmup`). */
export async function warmUpModels(models: readonly LoadedServedModel[], flag = 'auto'): Promise<void> {
  if (flag !== 'auto' && flag !== 'on' && flag !== 'off')
    throw new Error(`--warmup takes auto, on or off, got '${flag}'`);
  if (flag === 'off') return;
  for (const m of models) {
    if (m.kind === 'embedding' || !m.runner.warmUp) continue;
    const r = await m.runner.warmUp({ softwareToo: flag === 'on' });
    const held = r.recordedBytes === undefined ? '' : `, holding ${(r.recordedBytes / 2 ** 20).toFixed(1)} MiB`;
    if (r.steps > 0)
      console.log(`Warm-up of ${m.modelName}: ${r.steps} step shapes in ${(r.ms / 1000).toFixed(1)} s${held}`);
  }
}

/** The engine's nano-batching options from `--nano-batches` and `--nano-plan`. */
export function nanoOptions(o: ServeOptions, modelName: string): Pick<EngineOptions, 'nanoBatches' | 'nanoPlanner'> {
  const v = o.nanoBatches ?? 'off';
  if (v === 'off') return {};
  if (v !== 'auto') {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1)
      throw new Error(`--nano-batches takes auto, off or a positive integer, got '${v}'`);
    return { nanoBatches: n };
  }
  if (!o.nanoPlan)
    throw new Error(
      '--nano-batches auto needs --nano-plan FILE (written by bench/nanoflow-overlap.ts --write-plan on this card)',
    );
  const doc = JSON.parse(readFileSync(o.nanoPlan, 'utf8')) as { key?: string };
  const cache = doc.key ? NanoPlanCache.fromJSON(JSON.stringify(doc), doc.key) : null;
  if (!cache) throw new Error(`--nano-plan ${o.nanoPlan}: not a nano plan cache`);
  if (!cache.key.startsWith(`${modelName}@`))
    throw new Error(`--nano-plan ${o.nanoPlan} was searched for ${cache.key}, not for ${modelName}`);
  return { nanoBatches: 'auto', nanoPlanner: cache.planner() };
}

/** The runner's LoRA slots, or undefined when no LoRA option was given. */
export function loraSlots(o: ServeOptions): { slots: number; rmax: number } | undefined {
  const specs = o.lora ?? [];
  if (!specs.length && o.maxLoras === undefined) return undefined;
  const slots = o.maxLoras === undefined ? Math.max(4, specs.length) : positiveInt('max-loras', o.maxLoras);
  const rmax = positiveInt('max-lora-rank', o.maxLoraRank ?? '64');
  if (slots < 1 || rmax < 1) throw new Error('--max-loras and --max-lora-rank must be at least 1');
  return { slots, rmax };
}

/** `name=path` pairs of `--lora`. */
export function loraSpecs(o: ServeOptions): { name: string; path: string }[] {
  return (o.lora ?? []).map((spec) => {
    const eq = spec.indexOf('=');
    if (eq < 1 || eq === spec.length - 1) throw new Error(`--lora takes name=path, got '${spec}'`);
    return { name: spec.slice(0, eq), path: spec.slice(eq + 1) };
  });
}

/** Adds the `--lora` adapters to the model's registry. */
export async function addStartupAdapters(model: LoadedModel, o: ServeOptions): Promise<void> {
  const specs = loraSpecs(o);
  if (!loraSlots(o)) return;
  const registry = model.runner.adapters;
  if (!registry?.base) throw new Error(`${model.modelName}: this model family does not serve LoRA adapters`);
  for (const { name, path } of specs) registry.add(await loadPeftAdapter(path, name, registry.base));
}

function positiveInt(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a non-negative integer, got '${value}'`);
  return n;
}

/** The numeric options, each checked (in this order) before anything starts. */
function serveLimits(o: ServeOptions) {
  const port = positiveInt('port', o.port);
  const maxConcurrent = positiveInt('max-concurrent', o.maxConcurrent);
  const maxQueue = positiveInt('max-queue', o.maxQueue);
  const timeoutMs = positiveInt('timeout', o.timeout) * 1000;
  const maxBatchTokens = positiveInt('max-batch-tokens', o.maxBatchTokens);
  const prefillChunkTokens = positiveInt(
    'prefill-chunk-tokens',
    o.prefillChunkTokens ?? String(DEFAULT_PREFILL_CHUNK_TOKENS),
  );
  if (prefillChunkTokens < 1) throw new Error('--prefill-chunk-tokens must be at least 1');
  const prefillItlRatio = o.prefillItlRatio === undefined ? undefined : Number(o.prefillItlRatio);
  if (prefillItlRatio !== undefined && !(prefillItlRatio >= 1 && Number.isFinite(prefillItlRatio)))
    throw new Error(`--prefill-itl-ratio must be a number ≥ 1, got '${o.prefillItlRatio}'`);
  const drainTimeoutMs = positiveInt('drain-timeout-s', o.drainTimeoutS ?? '30') * 1000;
  const maxBodyBytes = positiveInt('max-body-bytes', o.maxBodyBytes ?? String(DEFAULT_MAX_BODY_BYTES));
  return {
    port,
    maxConcurrent,
    maxQueue,
    timeoutMs,
    maxBatchTokens,
    prefillChunkTokens,
    prefillItlRatio,
    drainTimeoutMs,
    maxBodyBytes,
  };
}

type EngineFor = (runner: ModelRunner, tokenizer: EngineTokenizer) => Engine;

/** Device-loss recovery of a chat model, when it can be reloaded; a reloaded model gets an engine with the options of the first. */
function recoveryOf(m: LoadedModel, engineFor: EngineFor): { recovery?: ChatRecoverySource } {
  const { lost, reload } = m;
  if (!lost || !reload) return {};
  return {
    recovery: {
      lost,
      ...(m.dispose ? { dispose: m.dispose } : {}),
      reload: async () => {
        const r = await reload();
        return {
          engine: engineFor(r.runner, r.tokenizer),
          ...(r.lost ? { lost: r.lost } : {}),
          ...(r.dispose ? { dispose: r.dispose } : {}),
        };
      },
    },
  };
}

/** Device-loss recovery of an encoder, when it can be reloaded. */
function encoderRecoveryOf(m: LoadedEmbeddingModel): { recovery?: EmbeddingRecoverySource } {
  const { lost, reload } = m;
  if (!lost || !reload) return {};
  return {
    recovery: {
      lost,
      ...(m.dispose ? { dispose: m.dispose } : {}),
      reload: async () => {
        const r = await reload();
        return {
          embedder: r.embedder,
          ...(r.lost ? { lost: r.lost } : {}),
          ...(r.dispose ? { dispose: r.dispose } : {}),
        };
      },
    },
  };
}

function servedSpec(m: LoadedServedModel, engineFor: EngineFor): ModelSpec {
  return m.kind === 'embedding'
    ? { kind: 'embedding', name: m.modelName, embedder: m.embedder, tokenizer: m.tokenizer, ...encoderRecoveryOf(m) }
    : {
        kind: 'chat',
        name: m.modelName,
        engine: engineFor(m.runner, m.tokenizer),
        tokenizer: m.tokenizer,
        ...recoveryOf(m, engineFor),
      };
}

/** Starts serving a loaded model (and `extra` ones beside it); resolves once listening. */
export async function serveModel(
  model: LoadedModel,
  o: ServeOptions,
  extra: readonly LoadedServedModel[] = [],
  rag: readonly RagStore[] = [],
  derain?: DerainService,
): Promise<RunningServer> {
  const limits = serveLimits(o);
  const apiKey = o.apiKey ?? process.env.TESSERA_API_KEY;
  const nano = nanoOptions(o, model.modelName);
  const longContext = o.longContext ? parseLongContextFlag(o.longContext) : undefined;
  const engineFor: EngineFor = (runner, tokenizer) =>
    new Engine(runner, tokenizer, {
      maxBatchTokens: limits.maxBatchTokens,
      prefillChunkTokens: limits.prefillChunkTokens,
      ...(limits.prefillItlRatio !== undefined ? { prefillItlRatio: limits.prefillItlRatio } : {}),
      maxRunningSeqs: limits.maxConcurrent,
      prefixCaching: o.prefixCache,
      ...nano,
      ...(longContext ? { longContext } : {}),
    });
  const models = extra.map((m) => servedSpec(m, engineFor));
  return startServer({
    engine: engineFor(model.runner, model.tokenizer),
    tokenizer: model.tokenizer,
    modelName: model.modelName,
    ...recoveryOf(model, engineFor),
    models,
    host: o.host,
    port: limits.port,
    maxConcurrentRequests: limits.maxConcurrent,
    maxQueuedRequests: limits.maxQueue,
    requestTimeoutMs: limits.timeoutMs,
    maxBodyBytes: limits.maxBodyBytes,
    drainTimeoutMs: limits.drainTimeoutMs,
    // in a cluster, the router sends what this instance has not started to another one
    ...(o.cluster ? { handBackQueuedOnDrain: true } : {}),
    ...(o.cors
      ? {
          corsOrigins: o.cors
            .split(',')
            .map((x) => x.trim())
            .filter(Boolean),
        }
      : {}),
    structuredOutput: o.structuredOutput,
    ...(rag.length ? { rag } : {}),
    ...(derain ? { derain } : {}),
    ...(apiKey ? { apiKey } : {}),
  });
}

type LoadRunner = (
  modelPath?: string,
  backend?: string,
  lora?: { slots: number; rmax: number },
  extra?: { kvCache?: KvCacheDtype },
) => Promise<LoadedModel>;

export function registerServeCommand(
  program: Command,
  loadRunner: LoadRunner,
  loadServed: (modelPath: string, backend?: string) => Promise<LoadedServedModel> = loadRunner,
): void {
  addServeFlags(
    program
      .command('serve [model]')
      .description(
        'serve a model (default: the built-in one) over an OpenAI-compatible HTTP API, with a chat page at /',
      ),
  ).action((modelPath: string | undefined, o: ServeOptions & { backend?: string }) =>
    startServing(modelPath, o, loadRunner, loadServed),
  );
}

/** Loads what the flags name, starts the server, joins the cluster when asked, and drains on a signal. */
async function startServing(
  modelPath: string | undefined,
  o: ServeOptions & { backend?: string },
  loadRunner: LoadRunner,
  loadServed: (modelPath: string, backend?: string) => Promise<LoadedServedModel>,
): Promise<void> {
  loraSpecs(o); // a malformed --lora fails before the model loads
  const ragAt = ragSpecs(o.rag ?? []);
  const kvCache = parseKvCache(o.kvCache);
  const model = await loadRunner(modelPath, o.backend, loraSlots(o), kvCache ? { kvCache } : {});
  await addStartupAdapters(model, o);
  const extra: LoadedServedModel[] = [];
  for (const path of o.model ?? []) extra.push(await loadServed(path, o.backend));
  const ragBackend = ragAt.length ? await openRagBackend(o.backend) : null;
  const rag: RagStore[] = [];
  for (const { name, dir } of ragAt) rag.push(await openRagStore(name, dir, ragBackend!));
  await warmUpModels([model, ...extra], o.warmup);
  const derain = o.derain
    ? derainService(o.derain, await openBackend(o.backend ? { prefer: o.backend as BackendChoice } : {}))
    : undefined;
  const server = await serveModel(model, o, extra, rag, derain);
  for (const r of rag)
    console.log(`RAG datastore '${r.name}': ${r.store.passages.length} passages (${r.store.embedder})`);
  for (const m of [model, ...extra]) console.log(`Serving ${describeModel(m)}`);
  console.log(`  chat page:  ${server.url}/`);
  console.log(`  OpenAI API: ${server.url}/v1  (metrics at ${server.url}/metrics)`);
  const member = o.cluster ? await joinClusterFromCli(o, server, model.device ?? 'unknown') : null;
  if (derain) console.log(`  de-raining: ${server.url}/derain  (POST ${server.url}/v1/images/derain)`);
  drainOnSignal(server, member, o.drainTimeoutS ?? '30');
}

/**
 * On SIGINT or SIGTERM: stop taking requests, let those in flight finish (the server's drain
 * timeout), leave the cluster, exit. A second signal exits at once.
 */
function drainOnSignal(
  server: RunningServer,
  member: { publish(): Promise<void>; leave(): Promise<void> } | null,
  drainTimeoutS: string,
): void {
  let stopping = false;
  const stop = async () => {
    if (stopping) process.exit(1);
    stopping = true;
    console.log(
      `\nDraining: no new requests; waiting up to ${drainTimeoutS} s for those in flight (again to exit now)…`,
    );
    const closing = server.close();
    // the record says draining at once, so the router stops sending here before the next heartbeat
    await member?.publish();
    await closing;
    await member?.leave();
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

function describeModel(m: LoadedServedModel): string {
  if (m.kind === 'embedding')
    return `${m.modelName} on /v1/embeddings (${m.embedder.dimensions} dimensions, context ${m.embedder.maxContext})`;
  const r = m.runner;
  return `${m.modelName} (context ${r.maxContext}, ${r.numPages} KV pages of ${r.pageSize} tokens)`;
}
