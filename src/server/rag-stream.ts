/**
 * The streamed reply of a chat completion with `rag` (`stream: true`): server-sent events whose
 * first chunk carries the retrieved sources, then the usual chat.completion.chunk stream of the
 * grounded answer. The first chunk is an extension:
 *
 *   { "id", "object": "chat.completion.chunk", "created", "model", "choices": [],
 *     "rag": { same fields as the non-streamed reply's "rag" } }
 *
 * with the same id as the chunks after it; `choices: []` makes OpenAI clients pass it through as
 * a chunk with nothing to print (as they do the usage chunk). The headers go out at once and the
 * pipeline runs inside the stream, so a client that disconnects while the pipeline is still
 * generating its intermediate text cancels that generation, and one that disconnects during the
 * answer cancels the answer. Errors after the headers arrive as an error event without [DONE].
 */
import { chatCompletion } from './chat-completions.js';
import type { ChatCompletionRequest } from './schemas.js';
import type { ServerState } from './server-state.js';
import { sseResponse } from './sse.js';

export interface GroundedRequest {
  /** The request's messages with the passages added. */
  readonly messages: ChatCompletionRequest['messages'];
  /** The `rag` field of the first chunk. */
  readonly sources: Record<string, unknown>;
}

/** The `data:` payloads of an SSE byte stream, in order. */
async function* sseData(reader: ReadableStreamDefaultReader<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let buffered = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffered += decoder.decode(value, { stream: true });
    let end: number;
    while ((end = buffered.indexOf('\n\n')) >= 0) {
      const event = buffered.slice(0, end);
      buffered = buffered.slice(end + 2);
      const data = event
        .split('\n')
        .filter((l) => l.startsWith('data: '))
        .map((l) => l.slice(6))
        .join('\n');
      if (data) yield data;
    }
  }
}

export function streamedRagReply(
  state: ServerState,
  body: ChatCompletionRequest,
  requestSignal: AbortSignal,
  ground: (signal: AbortSignal) => Promise<GroundedRequest>,
): Response {
  const abort = new AbortController();
  const disconnected = () => abort.abort(new Error('the client disconnected'));
  requestSignal.addEventListener('abort', disconnected, { once: true });
  let answer: ReadableStreamDefaultReader<Uint8Array> | null = null;
  return sseResponse(
    async (out) => {
      try {
        const grounded = await ground(abort.signal);
        abort.signal.throwIfAborted();
        const res = await chatCompletion(state, { ...body, messages: grounded.messages }, abort.signal);
        answer = res.body!.getReader();
        // a disconnect while the answer was starting: its stream was not ours to cancel yet
        if (abort.signal.aborted) return void (await answer.cancel());
        let sourcesSent = false;
        for await (const data of sseData(answer)) {
          if (data === '[DONE]') return out.done();
          const chunk = JSON.parse(data) as Record<string, unknown>;
          if ('error' in chunk) return out.fail(chunk);
          if (!sourcesSent) {
            const { id, object, created, model } = chunk;
            out.send({ id, object, created, model, choices: [], rag: grounded.sources });
            sourcesSent = true;
          }
          out.send(chunk);
        }
      } finally {
        requestSignal.removeEventListener('abort', disconnected);
      }
    },
    () => {
      disconnected();
      void answer?.cancel();
    },
  );
}
