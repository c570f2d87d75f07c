/** `tessera router --cluster nats://… --port P`: one OpenAI API in front of the instances of a cluster. */
import type { Command } from 'commander';
import type { PolicyMode } from '../cluster/policy.js';
import { startRouter } from '../cluster/router.js';

const MODES: readonly PolicyMode[] = ['consolidate', 'least-loaded', 'round-robin'];

export function registerRouterCommand(program: Command): void {
  program
    .command('router')
    .description('route OpenAI API requests over the instances of a cluster (tessera serve --cluster)')
    .requiredOption('--cluster <nats-url>', 'the NATS server the instances register with')
    .option('--host <host>', 'interface to listen on', '127.0.0.1')
    .option('--port <port>', 'port (0 picks a free one)', '8080')
    .option('--policy <mode>', `routing policy: ${MODES.join(', ')}`, 'consolidate')
    .option('--stale-ms <ms>', 'drop an instance whose heartbeats stop this long', '2000')
    .action(async (o: { cluster: string; host: string; port: string; policy: string; staleMs: string }) => {
      if (!MODES.includes(o.policy as PolicyMode)) throw new Error(`--policy must be one of ${MODES.join(', ')}`);
      const port = Number(o.port);
      const staleMs = Number(o.staleMs);
      if (!Number.isInteger(port) || port < 0) throw new Error(`--port must be a port number, got '${o.port}'`);
      if (!Number.isFinite(staleMs) || staleMs < 100)
        throw new Error(`--stale-ms must be at least 100, got '${o.staleMs}'`);
      const router = await startRouter({
        servers: o.cluster,
        host: o.host,
        port,
        mode: o.policy as PolicyMode,
        staleMs,
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
