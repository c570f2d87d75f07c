/**
 * Serving the app from Node with `@hono/node-server`. Client disconnects abort the request's
 * signal (and cancel SSE streams), which cancels generation.
 */
import { serve, type ServerType } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import { createApp, type ServerOptions } from './app.js';
import { PromMetrics } from './prom-metrics.js';
import { isLoopback } from './security.js';
import type { ServerState } from './server-state.js';

export interface RunningServer {
  url: string;
  state: ServerState;
  /**
   * Graceful stop: new requests get 503 `server_shutting_down` with Retry-After, requests in
   * flight may finish for `drainTimeoutMs`, then the rest end with an error (503, or an error
   * event without `[DONE]` on a stream); then the engine stops and the listener closes.
   */
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
  if (!options.apiKey && !isLoopback(host))
    console.warn(
      `[tessera serve] warning: listening on ${host} without an API key: anyone who can reach this address can use the server. Set --api-key (or TESSERA_API_KEY).`,
    );
  const server: ServerType = await new Promise((resolve) => {
    const s = serve({ fetch: app.fetch, hostname: host, port: options.port ?? 0 }, () => resolve(s));
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    state,
    close: async () => {
      state.stopRecovery();
      const drainMs = options.drainTimeoutMs ?? 30_000;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const drained = await Promise.race([
        state.drain().then(() => true),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(false), drainMs);
        }),
      ]);
      clearTimeout(timer);
      if (!drained) {
        state.interruptAll();
        // Let the interrupted responses write their error before connections are closed.
        await Promise.race([state.drain(), new Promise((r) => setTimeout(r, 2000))]);
      }
      await Promise.all(state.models.chatModels().map((m) => m.engine.shutdown()));
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        (server as { closeAllConnections?: () => void }).closeAllConnections?.();
      });
    },
  };
}
