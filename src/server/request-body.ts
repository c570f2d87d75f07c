/**
 * Reading a request body under a byte limit. The limit is enforced before anything is parsed:
 * a declared Content-Length beyond it is refused unread, and a chunked body is counted while it
 * streams in and refused as soon as it passes the limit, so a huge body never reaches JSON.parse.
 */
import { ApiError } from './errors.js';

export const DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024;

function tooLarge(limit: number): ApiError {
  return new ApiError(
    413,
    `The request body exceeds this server's limit of ${limit} bytes.`,
    'invalid_request_error',
    null,
    'request_too_large',
  );
}

/** The body as text, or 413 once it passes `limit` bytes. */
export async function readBodyText(req: Request, limit: number): Promise<string> {
  const declared = req.headers.get('content-length');
  if (declared !== null && Number(declared) > limit) throw tooLarge(limit);
  if (!req.body) return '';
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel().catch(() => {});
      throw tooLarge(limit);
    }
    chunks.push(value);
  }
  const all = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.byteLength;
  }
  return new TextDecoder().decode(all);
}

/** The body parsed as JSON: 413 beyond the limit, 400 when it is not JSON. */
export async function readJsonBody(req: Request, limit: number): Promise<unknown> {
  const text = await readBodyText(req, limit);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ApiError(
      400,
      `The request body is not valid JSON: ${(e as Error).message}`,
      'invalid_request_error',
      null,
      'invalid_json',
    );
  }
}
