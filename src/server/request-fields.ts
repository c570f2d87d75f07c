/**
 * Top-level fields checked as OpenAI checks them, before the values are validated. A field the
 * endpoint does not know is a 400 "Unrecognized request argument supplied: X" (OpenAI's words,
 * `param` and `code` null), so a typo such as `max_token` is never silently ignored. A field
 * OpenAI defines but this server cannot honour (audio output, predicted outputs, web search,
 * reasoning controls) is a 400 `unsupported_parameter` naming it, as OpenAI answers for a
 * parameter the chosen model does not support. Null counts as absent.
 */
import { ApiError } from './errors.js';

export interface FieldPolicy {
  /** Fields the endpoint accepts (validated by its schema). */
  readonly known: ReadonlySet<string>;
  /** Fields refused with unsupported_parameter; `allowed` says which values are harmless. */
  readonly unsupported?: Readonly<Record<string, (value: unknown) => boolean>>;
}

export function checkFields(body: unknown, policy: FieldPolicy): void {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return;
  const unknown: string[] = [];
  for (const [key, value] of Object.entries(body)) {
    if (policy.known.has(key)) continue;
    const allowed = policy.unsupported?.[key];
    if (!allowed) {
      unknown.push(key);
      continue;
    }
    if (value !== null && !allowed(value))
      throw new ApiError(
        400,
        `Unsupported parameter: '${key}' is not supported with this model.`,
        'invalid_request_error',
        key,
        'unsupported_parameter',
      );
  }
  if (unknown.length === 1)
    throw new ApiError(400, `Unrecognized request argument supplied: ${unknown[0]}`, 'invalid_request_error');
  if (unknown.length > 1)
    throw new ApiError(400, `Unrecognized request arguments supplied: ${unknown.join(', ')}`, 'invalid_request_error');
}
