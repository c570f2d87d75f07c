/**
 * Serving the app from Node with `@hono/node-server`. Client disconnects abort the request's
 * signal (and cancel SSE streams), which cancels generation.
 */
import { serve, type ServerType } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import { createApp, type ServerOptions } from './app.js';
import { PromMetrics } from './prom-metrics.js';
import type { ServerState } from './server-state.js';

export interface RunningServer {
  url: string;
  state: ServerState;
  /** Stops accepting connections, cancels what runs, and stops the engine. */
  close(): Promise<void>;
}

export async function startServer(
  options: Omit<ServerOptions, 'metrics'> & {
    host?: string;
    port?: number;
    metrics?: ServerOptions['metrics'] | false;
  },
): Promise<RunningServer> {
  const metrics = options.metrics === false ? undefined : (options.metrics ?? new PromMetrics());
  const { app, state } = createApp({ ...options, ...(metrics ? { metrics } : {}) } as ServerOptions);
  const host = options.host ?? '127.0.0.1';
  const server: ServerType = await new Promise((resolve) => {
    const s = serve({ fetch: app.fetch, hostname: host, port: options.port ?? 0 }, () => resolve(s));
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    state,
    close: async () => {
      await state.engine.shutdown();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        (server as { closeAllConnections?: () => void }).closeAllConnections?.();
      });
    },
  };
}
