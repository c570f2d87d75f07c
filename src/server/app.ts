/**
 * The OpenAI-compatible HTTP API on Hono: web-standard Request → Response, so the same app
 * serves from Node (`node-server.ts`) or from a browser worker via `app.fetch`.
 *
 * @example
 * const { app } = createApp({ engine, tokenizer, modelName: 'tessera-builtin' });
 * const res = await app.fetch(new Request('http://x/v1/models'));
 */
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import type { z } from 'zod';
import { adapterEntries, useAdapterRoutes } from './adapters.js';
import { chatCompletion } from './chat-completions.js';
import { completion } from './completions.js';
import { useDerainRoutes } from './derain-route.js';
import { embeddings } from './embeddings.js';
import { embeddingsFields, embeddingsRequest } from './embeddings-schema.js';
import { ApiError, toApiError } from './errors.js';
import { readiness } from './health.js';
import { useRagExtension } from './rag-chat.js';
import { readJsonBody } from './request-body.js';
import { corsFor, requireJson, requireKey } from './security.js';
import { checkFields, type FieldPolicy } from './request-fields.js';
import {
  chatCompletionFields,
  chatCompletionRequest,
  completionFields,
  completionRequest,
  detokenizeFields,
  detokenizeRequest,
  tokenizeFields,
  tokenizeRequest,
} from './schemas.js';
import { type ServedModel, unknownModel } from './served-models.js';
import { ServerState, type ServerOptions } from './server-state.js';
import { detokenize, tokenize } from './tokenize.js';
import { CHAT_PAGE_HTML } from './web/chat-page.js';

export type { ServerOptions } from './server-state.js';

export function createApp(options: ServerOptions): { app: Hono; state: ServerState } {
  const state = new ServerState(options);
  const app = new Hono();
  useMiddleware(app, state);
  app.get('/', (c) => c.html(CHAT_PAGE_HTML));
  // Liveness: the process runs and answers. Readiness (`/health`, `/health/ready`): it can serve.
  app.get('/health/live', (c) => c.json({ status: 'alive' }));
  app.get('/health', (c) => readiness(c, state));
  app.get('/health/ready', (c) => readiness(c, state));
  app.get('/metrics', async (c) => {
    const metrics = state.options.metrics;
    if (!metrics)
      return new ApiError(404, 'Metrics are not enabled on this server.', 'invalid_request_error').toResponse();
    const { contentType, body } = await metrics.render(state.engine.stats());
    return c.body(body, 200, { 'content-type': contentType });
  });
  app.get('/v1/models', (c) =>
    c.json({
      object: 'list',
      data: [...state.models.all().map((m) => modelEntry(state, m)), ...adapterEntries(state)],
    }),
  );
  app.get('/v1/models/:id{.+}', (c) => {
    const m = state.models.get(c.req.param('id'));
    const adapter = adapterEntries(state).find((a) => a.id === c.req.param('id'));
    if (m) return c.json(modelEntry(state, m));
    return adapter ? c.json(adapter) : unknownModel(c.req.param('id')).toResponse();
  });
  if (options.rag?.length) useRagExtension(app, state, options.rag);
  if (options.derain) useDerainRoutes(app, options.derain, state.maxBodyBytes);
  useApiRoutes(app, state);
  useAdapterRoutes(app, state);
  app.notFound((c) =>
    new ApiError(
      404,
      `No route for ${c.req.method} ${c.req.path}`,
      'invalid_request_error',
      null,
      'not_found',
    ).toResponse(),
  );
  app.onError((e) => {
    const api = toApiError(e);
    if (api.status >= 500 && api.status !== 503 && api.status !== 504) console.error('[tessera serve]', e);
    return api.toResponse();
  });
  return { app, state };
}

/** Metrics, CORS, the API key, JSON bodies only, and 503 for new work while draining. */
function useMiddleware(app: Hono, state: ServerState): void {
  const { options } = state;
  app.use('*', async (c, next) => {
    await next();
    options.metrics?.responded(endpointOf(c.req.path), c.res.status);
  });
  if (options.corsOrigins?.length) app.use('*', corsFor(options.corsOrigins));
  if (options.apiKey) app.use('*', requireKey(options.apiKey));
  app.use('*', requireJson);
  const refuseWhileDraining: MiddlewareHandler = async (c, next) => {
    if (state.isDraining && c.req.method === 'POST') return state.shuttingDownError().toResponse();
    return next();
  };
  app.use('/v1/*', refuseWhileDraining);
  app.use('/tokenize', refuseWhileDraining);
  app.use('/detokenize', refuseWhileDraining);
}

function useApiRoutes(app: Hono, state: ServerState): void {
  app.post('/v1/chat/completions', async (c) =>
    chatCompletion(state, await parseBody(c, chatCompletionRequest, chatCompletionFields, state), c.req.raw.signal),
  );
  app.post('/v1/completions', async (c) =>
    completion(state, await parseBody(c, completionRequest, completionFields, state), c.req.raw.signal),
  );
  app.post('/v1/embeddings', async (c) =>
    embeddings(state, await parseBody(c, embeddingsRequest, embeddingsFields, state)),
  );
  app.post('/tokenize', async (c) => tokenize(state, await parseBody(c, tokenizeRequest, tokenizeFields, state)));
  app.post('/detokenize', async (c) =>
    detokenize(state, await parseBody(c, detokenizeRequest, detokenizeFields, state)),
  );
}

function modelEntry(state: ServerState, m: ServedModel) {
  return {
    id: m.name,
    object: 'model',
    created: state.createdAt,
    owned_by: 'tessera',
    max_model_len: m.maxContext,
    ...(m.kind === 'embedding' ? { type: 'embedding', dimensions: m.embedder.dimensions } : {}),
  };
}

/** The body, checked for unknown fields and against its schema; the endpoint resolves `model` itself. */
async function parseBody<T extends z.ZodType>(
  c: Context,
  schema: T,
  fields: FieldPolicy,
  state: ServerState,
): Promise<z.infer<T>> {
  const json = await readJsonBody(c.req.raw, state.maxBodyBytes);
  checkFields(json, fields);
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const param = issue.path.join('.') || null;
    throw new ApiError(
      400,
      `Invalid request: ${param ? `${param}: ` : ''}${issue.message}`,
      'invalid_request_error',
      param,
      'invalid_value',
    );
  }
  return parsed.data;
}

function endpointOf(path: string): string {
  if (path.startsWith('/v1/chat')) return 'chat';
  if (path.startsWith('/v1/completions')) return 'completions';
  if (path.startsWith('/v1/embeddings')) return 'embeddings';
  if (path.startsWith('/v1/models')) return 'models';
  if (path === '/tokenize' || path === '/detokenize') return path.slice(1);
  return ['/', '/health', '/health/live', '/health/ready', '/metrics'].includes(path) ? path : 'other';
}
