/**
 * Errors a page meets when it starts the worker-hosted engine, typed so that a page can tell them
 * apart, each with a message that says what to do.
 */

/** Why the page cannot run the CPU backend: no SharedArrayBuffer without cross-origin isolation. */
export class CrossOriginIsolationError extends Error {
  constructor() {
    super(
      'SharedArrayBuffer is unavailable: the page is not cross-origin isolated. Serve it with the headers ' +
        "'Cross-Origin-Opener-Policy: same-origin' and 'Cross-Origin-Embedder-Policy: require-corp' " +
        "(or 'credentialless'); the CPU backend's threads share WebAssembly memory and need them.",
    );
    this.name = 'CrossOriginIsolationError';
  }
}

/** A chat completion refused or failed, in OpenAI's error fields (the server's ApiError, across the worker boundary). */
export class ChatCompletionError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly type: string,
    readonly param: string | null,
    readonly code: string | null,
  ) {
    super(message);
    this.name = 'ChatCompletionError';
  }
}

/** The worker failed to start the engine (model load, backend), with the worker's error text. */
export class WorkerEngineError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WorkerEngineError';
  }
}

/** Null where this context may share memory between threads, else the typed error saying which headers are missing. */
export function crossOriginIsolationProblem(): CrossOriginIsolationError | null {
  const g = globalThis as { crossOriginIsolated?: boolean };
  return typeof SharedArrayBuffer === 'undefined' || g.crossOriginIsolated === false
    ? new CrossOriginIsolationError()
    : null;
}
