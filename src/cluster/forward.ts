/**
 * Forwarding a request to the instance the policy picked, over HTTP to the instance's own OpenAI
 * API, and trying the next instance when that one is lost or refuses for its own reasons.
 *
 * - JSON responses: the whole answer is read before anything goes to the client, so a lost
 *   instance (connection refused, reset, cut mid-body) or a refusal another instance would not give
 *   (draining, its queue full, its device recovering) is retried elsewhere from the prompt: the
 *   client sees one answer or the last instance's error.
 * - Streams: events are relayed as whole SSE events. Until the first event that carries output
 *   (the role-only opening chunk carries none) nothing is committed, so a lost or refusing
 *   instance is replaced silently; afterwards a lost instance ends the stream with an OpenAI error
 *   event (`instance_lost`) and no `[DONE]`, as the server does for any stream it cannot finish.
 * - The client's disconnect aborts the upstream fetch, which closes the connection to the
 *   instance, which cancels the generation there.
 */
import { SSE_HEADERS } from '../server/sse.js';
import type { InstanceInfo } from './instance-info.js';
import type { RoutedRequest, RouterCore } from './router-core.js';

/** Refusals that say "not here, not now" about one instance, never about the request. */
const RETRYABLE_CODES = new Set([
  'server_shutting_down',
  'engine_stopped',
  'engine_failed',
  'model_recovering',
  'model_unavailable',
  'device_lost',
  'queue_full',
  // a draining instance handing back a request it had not started (server-state.ts)
  'request_migrated',
]);

export function apiErrorResponse(status: number, message: string, type: string, code: string, retryAfter?: number) {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (retryAfter !== undefined) headers['retry-after'] = String(retryAfter);
  return new Response(JSON.stringify({ error: { message, type, param: null, code } }), { status, headers });
}

function errorCode(text: string): string | null {
  try {
    const code = (JSON.parse(text) as { error?: { code?: unknown } }).error?.code;
    return typeof code === 'string' ? code : null;
  } catch {
    return null;
  }
}

function isRetryable(status: number, text: string): boolean {
  return (status === 503 || status === 429) && RETRYABLE_CODES.has(errorCode(text) ?? '');
}

/** The response the router gives when no instance is left to try. */
function exhausted(core: RouterCore, req: RoutedRequest, route: ReturnType<RouterCore['route']>): Response {
  const d = route.decision;
  if (d.kind === 'full' && d.reason === 'cluster_full') {
    core.rejected(req.id, 'cluster_full');
    return apiErrorResponse(
      429,
      'Every instance of the cluster is at capacity; retry later.',
      'rate_limit_error',
      'queue_full',
      1,
    );
  }
  if (!route.known) {
    core.rejected(req.id, 'model_not_found');
    return apiErrorResponse(
      404,
      `The model '${req.model}' does not exist on any instance of the cluster.`,
      'invalid_request_error',
      'model_not_found',
    );
  }
  core.rejected(req.id, 'no_instance');
  return apiErrorResponse(
    503,
    `No instance of the cluster can serve '${req.model}' now.`,
    'server_error',
    'no_instance_available',
    1,
  );
}

function send(target: InstanceInfo, req: RoutedRequest, signal: AbortSignal): Promise<Response> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (req.authorization) headers.authorization = req.authorization;
  return fetch(`${target.baseUrl}${req.path}`, { method: 'POST', headers, body: req.body, signal });
}

const passHeaders = (res: Response) => {
  const out: Record<string, string> = {};
  for (const h of ['content-type', 'retry-after']) {
    const v = res.headers.get(h);
    if (v) out[h] = v;
  }
  return out;
};

export async function forwardJson(core: RouterCore, req: RoutedRequest, client: AbortSignal): Promise<Response> {
  const tried = new Set<string>();
  let last: Response | null = null;
  for (;;) {
    const route = core.route(req, tried);
    if (!route.target) return last ?? exhausted(core, req, route);
    const target = route.target;
    tried.add(target.id);
    const release = core.begin(target.id);
    try {
      const res = await send(target, req, client);
      const text = await res.text();
      if (!isRetryable(res.status, text)) return new Response(text, { status: res.status, headers: passHeaders(res) });
      core.instanceRefused(target.id, req.id, res.status, errorCode(text));
      last = new Response(text, { status: res.status, headers: passHeaders(res) });
    } catch (e) {
      if (client.aborted) return new Response(null, { status: 499 });
      core.instanceFailed(target.id, req.id, 'connection', (e as Error).cause ? String((e as Error).cause) : String(e));
    } finally {
      release();
    }
  }
}

interface OpenStream {
  target: InstanceInfo;
  body: ReadableStream<Uint8Array>;
  release: () => void;
}

/** Opens a stream on the next instance that answers 200; or the response to give instead. */
async function openStream(
  core: RouterCore,
  req: RoutedRequest,
  tried: Set<string>,
  signal: AbortSignal,
): Promise<OpenStream | { response: Response }> {
  let last: Response | null = null;
  for (;;) {
    const route = core.route(req, tried);
    if (!route.target) return { response: last ?? exhausted(core, req, route) };
    const target = route.target;
    tried.add(target.id);
    const release = core.begin(target.id);
    try {
      const res = await send(target, req, signal);
      if (res.status === 200 && res.body) return { target, body: res.body, release };
      const text = await res.text();
      release();
      if (!isRetryable(res.status, text))
        return { response: new Response(text, { status: res.status, headers: passHeaders(res) }) };
      core.instanceRefused(target.id, req.id, res.status, errorCode(text));
      last = new Response(text, { status: res.status, headers: passHeaders(res) });
    } catch (e) {
      release();
      if (signal.aborted) return { response: new Response(null, { status: 499 }) };
      core.instanceFailed(target.id, req.id, 'connection', String((e as Error).cause ?? e));
    }
  }
}

type RelayEnd = 'done' | 'error_sent' | 'lost' | { refused: string };

type EventKind = 'done' | 'error' | 'refusal' | 'opening' | 'output';

/** What one SSE event is, for the relay's decisions (and an error event's code). */
function classify(event: string): { kind: EventKind; code?: string } {
  const data = event
    .split('\n')
    .filter((l) => l.startsWith('data:'))
    .map((l) => l.slice(5).trim())
    .join('\n');
  if (data === '[DONE]') return { kind: 'done' };
  try {
    const json = JSON.parse(data) as {
      error?: { code?: string };
      choices?: { delta?: { role?: string; content?: string }; text?: string; finish_reason?: unknown }[];
      usage?: unknown;
    };
    if (json.error) {
      const code = json.error.code ?? '';
      return { kind: RETRYABLE_CODES.has(code) ? 'refusal' : 'error', code };
    }
    const opening =
      !json.usage &&
      (json.choices ?? []).every(
        (c) =>
          !c.finish_reason &&
          !c.text &&
          !c.delta?.content &&
          Object.keys(c.delta ?? {}).every((k) => k === 'role' || k === 'content'),
      );
    return { kind: opening ? 'opening' : 'output' };
  } catch {
    return { kind: 'output' };
  }
}

/** Relays one upstream stream; `held` collects opening events until output commits the stream. */
async function relay(
  body: ReadableStream<Uint8Array>,
  emit: (event: string) => void,
  state: { committed: boolean; held: string[] },
): Promise<RelayEnd> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return 'lost';
      buffer += decoder.decode(value, { stream: true });
      let cut: number;
      while ((cut = buffer.indexOf('\n\n')) >= 0) {
        const event = buffer.slice(0, cut + 2);
        buffer = buffer.slice(cut + 2);
        const { kind, code } = classify(event);
        if (kind === 'refusal' && !state.committed) return { refused: code ?? '' };
        if (kind === 'opening' && !state.committed) {
          state.held.push(event);
          continue;
        }
        if (!state.committed) {
          state.committed = true;
          for (const h of state.held.splice(0)) emit(h);
        }
        emit(event);
        if (kind === 'done') return 'done';
        if (kind === 'error' || kind === 'refusal') return 'error_sent';
      }
    }
  } catch {
    return 'lost';
  } finally {
    reader.releaseLock();
  }
}

export async function forwardStream(core: RouterCore, req: RoutedRequest, client: AbortSignal): Promise<Response> {
  const upstream = new AbortController();
  const abort = () => upstream.abort();
  client.addEventListener('abort', abort, { once: true });
  const tried = new Set<string>();
  const first = await openStream(core, req, tried, upstream.signal);
  if ('response' in first) return first.response;
  const encoder = new TextEncoder();
  let closed = false;
  const stream = new ReadableStream<Uint8Array>({
    async start(controller) {
      const emit = (event: string) => {
        if (!closed) controller.enqueue(encoder.encode(event));
      };
      const end = () => {
        if (closed) return;
        closed = true;
        controller.close();
      };
      const state = { committed: false, held: [] as string[] };
      let current = first;
      for (;;) {
        const outcome = await relay(current.body, emit, state);
        current.release();
        if (outcome === 'done' || outcome === 'error_sent' || upstream.signal.aborted) return end();
        if (typeof outcome === 'object') core.instanceRefused(current.target.id, req.id, 200, outcome.refused);
        else if (state.committed) core.streamLost(current.target.id, req.id);
        else core.instanceFailed(current.target.id, req.id, 'connection', 'stream cut');
        if (state.committed) {
          emit(
            `data: ${JSON.stringify({ error: { message: `The instance serving this stream (${current.target.id}) was lost mid-stream; retry the request.`, type: 'server_error', param: null, code: 'instance_lost' } })}\n\n`,
          );
          return end();
        }
        state.held.length = 0;
        const next = await openStream(core, req, tried, upstream.signal);
        if ('response' in next) {
          const text = await next.response.text();
          emit(
            `data: ${text || JSON.stringify({ error: { message: 'request cancelled', type: 'server_error', param: null, code: null } })}\n\n`,
          );
          return end();
        }
        current = next;
      }
    },
    cancel() {
      closed = true;
      abort();
    },
  });
  return new Response(stream, { headers: SSE_HEADERS });
}
