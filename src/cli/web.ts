/**
 * `tessera web`: serves the demo chat page with the built-in model (or `--model <dir>`) and the
 * browser bundle, cross-origin isolated, and prints the URL to open. The model runs in the
 * browser, not in this process.
 */
import { existsSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { builtinModelPath } from '../models/load-model.js';
import { startWebServer, type WebServer } from './web-server.js';

/** The bundle beside this build: dist/browser, from dist/src/cli/web.js. */
function defaultBundleDir(): string {
  return fileURLToPath(new URL('../../browser/', import.meta.url));
}

export interface WebCommandOptions {
  host: string;
  port: string;
  model?: string;
  bundle?: string;
}

export async function runWebCommand(o: WebCommandOptions): Promise<WebServer> {
  const bundleDir = resolve(o.bundle ?? defaultBundleDir());
  if (!existsSync(resolve(bundleDir, 'tessera.js')))
    throw new Error(
      `${bundleDir}: no tessera.js (build the browser bundle: npm run build:browser, or pass --bundle <dir>)`,
    );
  const modelDir = resolve(o.model ?? builtinModelPath());
  const port = Number(o.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port ${o.port}: not a port number`);
  return startWebServer({
    bundleDir,
    modelDir,
    modelName: o.model ? basename(modelDir) : 'builtin',
    host: o.host,
    port,
  });
}

export function registerWebCommand(program: Command): void {
  program
    .command('web')
    .description('serve the in-browser demo (chat with the model running in the page) and the browser bundle')
    .option('--host <host>', 'interface to listen on', '127.0.0.1')
    .option('--port <port>', 'port (0: any free one)', '8080')
    .option('--model <dir>', 'model folder to serve (default: the built-in model)')
    .option('--bundle <dir>', 'browser bundle folder (default: dist/browser of this package)')
    .action(async (o: WebCommandOptions) => {
      const server = await runWebCommand(o);
      console.log(`Tessera web demo: open ${server.url} (the model runs in the browser; Ctrl-C stops the server)`);
      const stop = () => void server.close().then(() => process.exit(0));
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
}
