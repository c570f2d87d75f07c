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
import { forwardJson, forwardStream, apiErrorResponse } from './forward.js';
import { openInstancesBucket } from './membership.js';
import type { PolicyMode } from './policy.js';
import { chatPrefixText, prefixBlockHashes } from './prefix-index.js';
import { type RoutedRequest, RouterCore } from './router-core.js';
import { watchRoster } from './roster.js';

const MAX_BODY_BYTES = 4 * 2 ** 20;

export interface RouterOptions {
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

/** Reads the body and the fields routing needs; an OpenAI-shaped 400/413 when it cannot. */
async function routedRequest(req: Request, path: string): Promise<RoutedRequest | Response> {
  const length = Number(req.headers.get('content-length') ?? 0);
  if (length > MAX_BODY_BYTES)
    return apiErrorResponse(413, 'The request body is too large.', 'invalid_request_error', 'request_too_large');
  const body = await req.text();
  if (body.length > MAX_BODY_BYTES)
    return apiErrorResponse(413, 'The request body is too large.', 'invalid_request_error', 'request_too_large');
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
    authorization: req.headers.get('authorization'),
  };
}

export function createRouterApp(core: RouterCore): Hono {
  const app = new Hono();
  for (const path of ['/v1/chat/completions', '/v1/completions']) {
    app.post(path, async (c) => {
      const req = await routedRequest(c.req.raw, path);
      if (req instanceof Response) return req;
      return req.stream ? forwardStream(core, req, c.req.raw.signal) : forwardJson(core, req, c.req.raw.signal);
    });
  }
  app.get('/v1/models', (c) => {
    const seen = new Map<string, Record<string, unknown>>();
    for (const i of core.roster.routable()) {
      for (const m of i.models) if (!seen.has(m)) seen.set(m, { id: m, object: 'model', owned_by: 'tessera' });
      for (const a of i.adapters)
        if (!seen.has(a)) seen.set(a, { id: a, object: 'model', owned_by: 'tessera', parent: i.models[0] });
    }
    return c.json({ object: 'list', data: [...seen.values()] });
  });
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
  const app = createRouterApp(core);
  const host = o.host ?? '127.0.0.1';
  const server: ServerType = await new Promise((resolve) => {
    const s = serve({ fetch: app.fetch, hostname: host, port: o.port ?? 0 }, () => resolve(s));
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    core,
    close: async () => {
      clearInterval(sweep);
      watching.stop();
      await nc.drain().catch(() => {});
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        (server as { closeAllConnections?: () => void }).closeAllConnections?.();
      });
    },
  };
}
