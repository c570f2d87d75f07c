/** Typed engine errors; the server maps `code` onto HTTP status codes and OpenAI error bodies. */
export type EngineErrorCode =
  | 'context_length_exceeded'
  | 'kv_capacity_exceeded'
  | 'invalid_request'
  | 'engine_stopped'
  | 'model_error'
  /** The engine failed a step and stopped taking work: the process needs a restart. */
  | 'engine_failed';

export class EngineError extends Error {
  constructor(
    readonly code: EngineErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'EngineError';
  }
}
