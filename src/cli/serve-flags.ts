/**
 * The flags of `tessera serve`, in two groups: how the server listens and schedules, and what it
 * serves (models, adapters, datastores, device, cluster, batching modes). serve.ts reads them as `ServeOptions`.
 */
import type { Command } from 'commander';
import { KV_CACHE_HELP } from './kv-cache-flag.js';
import { LONG_CONTEXT_FLAG_HELP } from './long-context-flag.js';
import { DEFAULT_PREFILL_CHUNK_TOKENS } from '../engine/scheduler.js';
import { DEFAULT_MAX_BODY_BYTES } from '../server/request-body.js';

const collect = (value: string, previous: string[]) => [...previous, value];

/** Every `serve` flag on `cmd`. */
export function addServeFlags(cmd: Command): Command {
  return addContentFlags(addServerFlags(cmd));
}

/** Listening, access, limits and scheduling. */
function addServerFlags(cmd: Command): Command {
  return cmd
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
    .option(
      '--prefill-chunk-tokens <n>',
      'prompt tokens per step while other requests decode (lower: steadier token pace, slower first tokens)',
      String(DEFAULT_PREFILL_CHUNK_TOKENS),
    )
    .option(
      '--prefill-itl-ratio <r>',
      'size each prefill chunk by measured step times: a step beside decodes takes at most r × a decode-only step (default: off, the fixed chunk)',
    )
    .option('--no-prefix-cache', 'do not reuse KV pages of earlier prompts')
    .option('--no-structured-output', 'turn off response_format / forced tool calls (xgrammar)');
}

/** What is served and on what: models, adapters, datastores, backend, KV pages, cluster, batching modes. */
function addContentFlags(cmd: Command): Command {
  return cmd
    .option(
      '--model <path>',
      'serve another model beside the first, under its folder name (repeatable; chat or embedding)',
      collect,
      [],
    )
    .option('--lora <name=path>', 'serve a PEFT LoRA adapter folder under name (repeatable)', collect, [])
    .option('--max-loras <n>', 'adapters resident on the device at once (default: 4, or the number of --lora)')
    .option('--max-lora-rank <r>', 'highest adapter rank served', '64')
    .option(
      '--rag <name=store>',
      'a datastore from `tessera rag index` for the chat `rag` field (repeatable)',
      collect,
      [],
    )
    .option('--derain <dir>', 'serve the de-raining networks of this folder on /v1/images/derain and the /derain page')
    .option('--backend <name>', 'webgpu, cpu or auto (default: $TESSERA_BACKEND, else auto)')
    .option('--kv-cache <dtype>', KV_CACHE_HELP, 'f16')
    .option(
      '--cluster <nats-url>',
      'join a cluster: register in its NATS KV bucket and heartbeat (see tessera router); a drain hands requests not yet started back to the router',
    )
    .option('--instance-id <id>', 'this instance in the cluster (default: host-pid)')
    .option('--advertise-url <url>', 'where the router reaches this instance (default: the listening URL)')
    .option('--nano-batches <auto|N|off>', 'split host-driven steps into nano-batches (docs/nanoflow.md)', 'off')
    .option('--nano-plan <file>', 'nano-batch plans for --nano-batches auto (bench/nanoflow.ts writes one per card)')
    .option('--long-context <spec>', LONG_CONTEXT_FLAG_HELP)
    .option(
      '--warmup <auto|on|off>',
      'compile and record every prefill and mixed step shape before listening (auto: on a hardware GPU only)',
      'auto',
    );
}
