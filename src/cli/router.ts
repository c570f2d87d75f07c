/** `tessera router --cluster nats://… --port P`: one OpenAI API in front of the instances of a cluster. */
import type { Command } from 'commander';
import type { PolicyMode } from '../cluster/policy.js';
import { startRouter } from '../cluster/router.js';
import { DEFAULT_MAX_BODY_BYTES } from '../server/request-body.js';
import { isLoopback } from '../server/security.js';

const MODES: readonly PolicyMode[] = ['consolidate', 'least-loaded', 'round-robin'];

interface RouterCliOptions {
  cluster: string;
  host: string;
  port: string;
  policy: string;
  staleMs: string;
  apiKey?: string;
  instanceApiKey?: string;
  maxBodyBytes: string;
}

export function registerRouterCommand(program: Command): void {
  program
    .command('router')
    .description('route OpenAI API requests over the instances of a cluster (tessera serve --cluster)')
    .requiredOption('--cluster <nats-url>', 'the NATS server the instances register with')
    .option('--host <host>', 'interface to listen on', '127.0.0.1')
    .option('--port <port>', 'port (0 picks a free one)', '8080')
    .option('--policy <mode>', `routing policy: ${MODES.join(', ')}`, 'consolidate')
    .option('--stale-ms <ms>', 'drop an instance whose heartbeats stop this long', '2000')
    .option(
      '--api-key <key>',
      'require Authorization: Bearer <key> from clients everywhere but /health/live (default: $TESSERA_ROUTER_API_KEY, else none)',
    )
    .option(
      '--instance-api-key <key>',
      "send this key to the instances instead of the client's Authorization (default: the client's header as it came)",
    )
    .option('--max-body-bytes <n>', 'refuse request bodies larger than this with 413', String(DEFAULT_MAX_BODY_BYTES))
    .action(async (o: RouterCliOptions) => {
      if (!MODES.includes(o.policy as PolicyMode)) throw new Error(`--policy must be one of ${MODES.join(', ')}`);
      const port = Number(o.port);
      const staleMs = Number(o.staleMs);
      if (!Number.isInteger(port) || port < 0) throw new Error(`--port must be a port number, got '${o.port}'`);
      if (!Number.isFinite(staleMs) || staleMs < 100)
        throw new Error(`--stale-ms must be at least 100, got '${o.staleMs}'`);
      const maxBodyBytes = Number(o.maxBodyBytes);
      if (!Number.isInteger(maxBodyBytes) || maxBodyBytes < 1)
        throw new Error(`--max-body-bytes must be a positive integer, got '${o.maxBodyBytes}'`);
      const apiKey = o.apiKey ?? process.env.TESSERA_ROUTER_API_KEY;
      if (!apiKey && !isLoopback(o.host))
        console.warn(
          `[tessera router] warning: listening on ${o.host} without an API key: anyone who can reach this address can use the cluster. Set --api-key (or TESSERA_ROUTER_API_KEY).`,
        );
      const router = await startRouter({
        servers: o.cluster,
        host: o.host,
        port,
        mode: o.policy as PolicyMode,
        staleMs,
        maxBodyBytes,
        ...(apiKey ? { apiKey } : {}),
        ...(o.instanceApiKey ? { instanceApiKey: o.instanceApiKey } : {}),
      });
      console.error(`[tessera router] ${router.url}/v1 over ${o.cluster} (policy ${o.policy})`);
      const stop = async () => {
        await router.close();
        process.exit(0);
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
}
