/**
 * `tessera router`: one OpenAI API over the instances of a cluster. It learns the instances from
 * the NATS KV bucket (roster.ts), picks one per request (policy.ts through router-core.ts) and
 * forwards the request over HTTP to that instance's own API (forward.ts).
 *
 * HTTP rather than NATS request/reply for the requests themselves: the instance's server already
 * validates, streams SSE, counts its queue and cancels generation when its connection closes, so
 * forwarding the bytes keeps one implementation of the API, cancellation is a closed socket, a dead
 * instance is a refused or reset connection the router sees at once, and bodies are not bound by
 * NATS's message size (1 MiB by default, below the server's 4 MiB). NATS carries what HTTP
 * cannot: who is in the cluster and how loaded each instance is.
 */
import { serve, type ServerType } from '@hono/node-server';
import { Hono } from 'hono';
import type { AddressInfo } from 'node:net';
import { connect } from '@nats-io/transport-node';
import { ApiError } from '../server/errors.js';
import { DEFAULT_MAX_BODY_BYTES, readBodyText } from '../server/request-body.js';
import { requireJson, requireKey } from '../server/security.js';
import { forwardJson, forwardStream, apiErrorResponse } from './forward.js';
import { openInstancesBucket } from './membership.js';
import type { PolicyMode } from './policy.js';
import { chatPrefixText, prefixBlockHashes } from './prefix-index.js';
import { type RoutedRequest, RouterCore } from './router-core.js';
import { mergedModels } from './router-models.js';
import { watchRoster } from './roster.js';

/** What the router's HTTP side checks and sends, beside the routing itself. */
export interface RouterHttpOptions {
  /** Clients must send `Authorization: Bearer <apiKey>` (everywhere but /health/live); checked before forwarding. */
  apiKey?: string;
  /**
   * The key sent to the instances instead of the client's header; absent: the client's
   * `Authorization` goes through as it came (instances with no key, or the router's own).
   */
  instanceApiKey?: string;
  /** Bodies beyond this many bytes get 413 before they are parsed, as on the server. Default 4 MiB. */
  maxBodyBytes?: number;
}

export interface RouterOptions extends RouterHttpOptions {
  /** NATS server URL(s). */
  servers: string;
  host?: string;
  port?: number;
  mode?: PolicyMode;
  /** An instance silent this long is dropped. */
  staleMs?: number;
  log?: (line: string) => void;
}

export interface RunningRouter {
  url: string;
  core: RouterCore;
  close(): Promise<void>;
}

let nextId = 0;

/** Reads the body under the limit and the fields routing needs; an OpenAI-shaped 400/413 when it cannot. */
async function routedRequest(req: Request, path: string, o: RouterHttpOptions): Promise<RoutedRequest | Response> {
  let body: string;
  try {
    body = await readBodyText(req, o.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES);
  } catch (e) {
    if (e instanceof ApiError) return e.toResponse();
    throw e;
  }
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(body) as Record<string, unknown>;
    if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new Error('not an object');
  } catch (e) {
    return apiErrorResponse(400, `Invalid JSON body: ${(e as Error).message}`, 'invalid_request_error', 'invalid_json');
  }
  if (typeof json.model !== 'string')
    return apiErrorResponse(400, "'model' must be a string.", 'invalid_request_error', 'invalid_value');
  const text = path.includes('chat')
    ? chatPrefixText(Array.isArray(json.messages) ? json.messages : [])
    : typeof json.prompt === 'string'
      ? json.prompt
      : '';
  return {
    id: `rt-${Date.now().toString(36)}${(nextId++).toString(36)}`,
    path,
    body,
    model: json.model,
    stream: json.stream === true,
    prefix: prefixBlockHashes(text),
    authorization: o.instanceApiKey ? `Bearer ${o.instanceApiKey}` : req.headers.get('authorization'),
  };
}

export function createRouterApp(core: RouterCore, o: RouterHttpOptions = {}): Hono {
  const app = new Hono();
  const created = Math.floor(Date.now() / 1000);
  if (o.apiKey) app.use('*', requireKey(o.apiKey));
  app.use('*', requireJson);
  for (const path of ['/v1/chat/completions', '/v1/completions']) {
    app.post(path, async (c) => {
      const req = await routedRequest(c.req.raw, path, o);
      if (req instanceof Response) return req;
      return req.stream ? forwardStream(core, req, c.req.raw.signal) : forwardJson(core, req, c.req.raw.signal);
    });
  }
  app.get('/v1/models', (c) => c.json({ object: 'list', data: mergedModels(core.roster.routable(), created) }));
  const health = () => {
    const alive = core.roster.alive();
    const routable = core.roster.routable();
    const body = {
      status: routable.length ? 'ok' : 'no_instance',
      policy: core.mode,
      instances: alive.map((i) => ({
        id: i.id,
        baseUrl: i.baseUrl,
        device: i.device,
        draining: i.draining,
        healthy: i.healthy,
        activeRequests: i.activeRequests,
        pagesFree: i.pagesFree,
        residentAdapters: i.residentAdapters,
      })),
    };
    return Response.json(body, { status: routable.length ? 200 : 503 });
  };
  app.get('/health', health);
  app.get('/health/ready', health);
  app.get('/health/live', (c) => c.json({ status: 'alive' }));
  app.get('/metrics', async (c) => {
    const { contentType, body } = await core.metrics.render();
    return c.body(body, 200, { 'content-type': contentType });
  });
  app.get('/cluster/decisions', (c) => c.json({ decisions: core.decisions.slice(-1000) }));
  app.notFound(() => apiErrorResponse(404, 'No such route on the router.', 'invalid_request_error', 'not_found'));
  return app;
}

/** Serves the router's app over HTTP (without NATS: the caller feeds `core.roster`). */
export async function listenRouter(
  core: RouterCore,
  o: RouterHttpOptions & { host?: string; port?: number } = {},
): Promise<{ url: string; close(): Promise<void> }> {
  const app = createRouterApp(core, o);
  const host = o.host ?? '127.0.0.1';
  const server: ServerType = await new Promise((resolve) => {
    const s = serve({ fetch: app.fetch, hostname: host, port: o.port ?? 0 }, () => resolve(s));
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        (server as { closeAllConnections?: () => void }).closeAllConnections?.();
      }),
  };
}

export async function startRouter(o: RouterOptions): Promise<RunningRouter> {
  const log = o.log ?? ((line: string) => console.log(line));
  const core = new RouterCore({
    ...(o.mode ? { mode: o.mode } : {}),
    ...(o.staleMs ? { staleMs: o.staleMs } : {}),
    log,
  });
  const nc = await connect({ servers: o.servers, name: 'tessera-router' });
  const kv = await openInstancesBucket(nc);
  const watching = await watchRoster(kv, core.roster, log);
  // heartbeats stop silently when an instance dies: look for silence even while no request comes
  const sweep = setInterval(() => core.roster.alive(), Math.max(100, (o.staleMs ?? 2000) / 4));
  sweep.unref();
  const http = await listenRouter(core, o);
  return {
    url: http.url,
    core,
    close: async () => {
      clearInterval(sweep);
      watching.stop();
      await nc.drain().catch(() => {});
      await http.close();
    },
  };
}
