/**
 * OpenAI-style error responses: `{ "error": { message, type, param, code } }` with the status
 * codes the official clients expect (400 bad request, 401 bad key, 404 unknown model, 429 queue
 * full, 503 shutting down, 504 timed out).
 */
import { EngineError } from '../engine/errors.js';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type = 'invalid_request_error',
    readonly param: string | null = null,
    readonly code: string | null = null,
    /** Seconds, for 429 and 503. */
    readonly retryAfter?: number,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  body(): { error: { message: string; type: string; param: string | null; code: string | null } } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }

  toResponse(): Response {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (this.retryAfter !== undefined) headers['retry-after'] = String(this.retryAfter);
    return new Response(JSON.stringify(this.body()), { status: this.status, headers });
  }
}

/**
 * A draining instance ends a request it had not started with this: nothing was generated, so any
 * other instance can serve it from the prompt (a cluster router does so without telling the client).
 */
export function handedBackError(retryAfter: number): ApiError {
  return new ApiError(
    503,
    'This instance is draining and handed the request back before starting it; send it again (to another instance).',
    'server_error',
    null,
    'request_migrated',
    retryAfter,
  );
}

/** Any error thrown while serving a request, as an ApiError (engine errors keep their meaning). */
export function toApiError(e: unknown): ApiError {
  if (e instanceof ApiError) return e;
  if (e instanceof EngineError) {
    switch (e.code) {
      case 'context_length_exceeded':
      case 'kv_capacity_exceeded':
        return new ApiError(400, e.message, 'invalid_request_error', 'messages', e.code);
      case 'invalid_request':
        return new ApiError(400, e.message, 'invalid_request_error', null, 'invalid_request');
      case 'engine_stopped':
        return new ApiError(503, e.message, 'server_error', null, 'engine_stopped', 5);
      case 'model_error':
        return new ApiError(500, e.message, 'server_error', null, 'model_error');
      case 'engine_failed':
        return new ApiError(503, e.message, 'server_error', null, 'engine_failed');
    }
  }
  return new ApiError(500, `internal error: ${(e as Error)?.message ?? String(e)}`, 'server_error');
}
