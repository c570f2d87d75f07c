/**
 * Request guards that make the server safe to leave running on a workstation: a browser page the
 * user visits must not be able to make it generate. Cross-origin reads need CORS, which is off
 * unless origins are listed; a cross-origin "simple" POST (text/plain, form encodings) needs no
 * preflight, so POSTs must declare JSON; and with a key, everything but liveness needs it.
 */
import type { MiddlewareHandler } from 'hono';
import { ApiError } from './errors.js';

/**
 * Paths open without a key: liveness, which says nothing but "the process runs", and the chat
 * page's static HTML, which holds no data and can do nothing without the key the user types in
 * (a browser cannot send a Bearer header when it navigates, so a locked page could not be opened).
 */
export const OPEN_PATHS = new Set(['/health/live', '/', '/derain']);

/** 415 for a POST whose body is not declared as JSON. */
export const requireJson: MiddlewareHandler = async (c, next) => {
  if (c.req.method !== 'POST') return next();
  const type = (c.req.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') {
    return new ApiError(
      415,
      `Content-Type must be application/json, got '${type || '(none)'}'.`,
      'invalid_request_error',
      null,
      'unsupported_media_type',
    ).toResponse();
  }
  return next();
};

/** Bearer auth on every path but liveness (preflights pass: browsers send them without credentials). */
export function requireKey(apiKey: string): MiddlewareHandler {
  return async (c, next) => {
    if (OPEN_PATHS.has(c.req.path) || c.req.method === 'OPTIONS') return next();
    const header = c.req.header('authorization') ?? '';
    if (header !== `Bearer ${apiKey}`) {
      return new ApiError(
        401,
        header ? 'Incorrect API key provided.' : 'Missing API key: send Authorization: Bearer <key>.',
        'invalid_request_error',
        null,
        'invalid_api_key',
      ).toResponse();
    }
    return next();
  };
}

/**
 * CORS for the listed origins only ('*' allows any). A preflight from a listed origin is answered
 * 204 with the grant; from any other origin it gets 204 without one, which the browser refuses.
 */
export function corsFor(origins: readonly string[]): MiddlewareHandler {
  const any = origins.includes('*');
  return async (c, next) => {
    const origin = c.req.header('origin');
    const allowed = origin !== undefined && (any || origins.includes(origin));
    const grant: Record<string, string> = allowed
      ? { 'access-control-allow-origin': any ? '*' : origin, ...(any ? {} : { vary: 'Origin' }) }
      : {};
    if (c.req.method === 'OPTIONS' && c.req.header('access-control-request-method')) {
      const headers: Record<string, string> = allowed
        ? {
            ...grant,
            'access-control-allow-methods': 'GET, POST, OPTIONS',
            'access-control-allow-headers': 'Authorization, Content-Type',
            'access-control-max-age': '600',
          }
        : {};
      return new Response(null, { status: 204, headers });
    }
    await next();
    for (const [k, v] of Object.entries(grant)) c.res.headers.set(k, v);
  };
}

/** Whether `host` is a loopback interface (anything else is reachable from other machines). */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);
}
