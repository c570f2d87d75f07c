/**
 * Server-sent events on a web-standard ReadableStream. The producer writes JSON chunks; when the
 * client goes away the stream is cancelled and `onCancel` runs (the generation is aborted).
 */
import { ApiError } from './errors.js';

/** Headers of an event stream: no caching, and no buffering by a proxy in front (nginx honours x-accel-buffering). */
export const SSE_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  connection: 'keep-alive',
  'x-accel-buffering': 'no',
};

export interface SseWriter {
  send(data: unknown): void;
  /** Writes `data: [DONE]` (OpenAI's end marker) and closes. */
  done(): void;
  /** Writes an error event and closes without `[DONE]`: the stream did not complete. */
  fail(error: unknown): void;
}

export function sseResponse(produce: (out: SseWriter) => Promise<void>, onCancel: () => void): Response {
  const encoder = new TextEncoder();
  let cancelled = false;
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      const out: SseWriter = {
        send(data) {
          if (!cancelled) controller.enqueue(encoder.encode(`data: ${JSON.stringify(data)}\n\n`));
        },
        done() {
          if (cancelled) return;
          cancelled = true;
          controller.enqueue(encoder.encode('data: [DONE]\n\n'));
          controller.close();
        },
        fail(error) {
          if (cancelled) return;
          out.send(error);
          cancelled = true;
          controller.close();
        },
      };
      produce(out).catch((e) => {
        // Nothing sensible can be sent after a failure mid-stream except an error event.
        out.fail(
          e instanceof ApiError
            ? e.body()
            : { error: { message: (e as Error)?.message ?? String(e), type: 'server_error', param: null, code: null } },
        );
      });
    },
    cancel() {
      cancelled = true;
      onCancel();
    },
  });
  return new Response(stream, { headers: SSE_HEADERS });
}
