/** What the `tessera serve` tests start from: the command's parsed options, and its registered flags. */
import { Command, type Option } from 'commander';
import { registerServeCommand, type ServeOptions } from '../../src/cli/serve.js';

/** Loopback on a free port, a small queue and batch, prefix cache on, no structured output. */
export const TEST_SERVE_OPTIONS: ServeOptions = {
  host: '127.0.0.1',
  port: '0',
  maxConcurrent: '4',
  maxQueue: '2',
  timeout: '30',
  maxBatchTokens: '64',
  prefixCache: true,
  structuredOutput: false,
};

/** The flags `serve` registers (nothing is loaded: the loader refuses). */
export function serveCommandOptions(): readonly Option[] {
  const program = new Command();
  registerServeCommand(program, async () => {
    throw new Error('not loaded here');
  });
  return program.commands.find((c) => c.name() === 'serve')!.options;
}
