/**
 * The RAG extension of POST /v1/chat/completions. A request with an extra top-level field
 *
 *   "rag": { "store": "<name given to --rag>", "pipeline": "plain" | "hyde" | "subq" | "iter-retgen" | "irg"
 *            | "flare" | "self-rag", "k": 4 }
 *
 * runs the pipeline over the named datastore to gather passages, answers with them in a system
 * message ahead of the conversation (the query is the last user message), and returns the usual
 * chat.completion body plus a top-level extension field:
 *
 *   "rag": { "store", "pipeline", "queries": [...], "drafts": [...],
 *            "passages": [{ "id", "text", "source", "distance" }],   (nearest first)
 *            "hit_rate": share of the probed clusters found on the GPU by lookahead, or null
 *                        (no GPU cache, or no retrieval) }
 *
 * With `stream: true` the same `rag` object comes first, in a chunk of its own, then the answer's
 * chunks (`rag-stream.ts`). An unknown store, pipeline or sub-field is a 400. A request without `rag` passes to the plain endpoint,
 * and on a server started without stores `rag` is an unrecognized argument like any other.
 */
import type { Hono } from 'hono';
import { z } from 'zod';
import { PIPELINES, type Passage, gatherPassages, passageBlock } from '../rag/index.js';
import { chatCompletion } from './chat-completions.js';
import { ApiError } from './errors.js';
import { engineGenerator, retrieverFor, type RagStore } from './rag-stores.js';
import { readJsonBody } from './request-body.js';
import { type GroundedRequest, streamedRagReply } from './rag-stream.js';
import { checkFields } from './request-fields.js';
import { type ChatCompletionRequest, chatCompletionFields, chatCompletionRequest } from './schemas.js';
import type { ServerState } from './server-state.js';

const ragField = z
  .object({
    store: z.string(),
    pipeline: z.enum(PIPELINES).default('plain'),
    k: z.number().int().min(1).max(32).default(4),
  })
  .strict();

function invalid(path: readonly PropertyKey[], message: string): ApiError {
  const param = ['rag', ...path.map(String)].join('.');
  return new ApiError(400, `Invalid request: ${param}: ${message}`, 'invalid_request_error', param, 'invalid_value');
}

function parsed<T extends z.ZodType>(schema: T, value: unknown, prefix: readonly PropertyKey[]): z.infer<T> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  if (prefix.length === 0) {
    const param = issue.path.join('.') || null;
    throw new ApiError(
      400,
      `Invalid request: ${param ? `${param}: ` : ''}${issue.message}`,
      'invalid_request_error',
      param,
      'invalid_value',
    );
  }
  throw invalid(issue.path, issue.message);
}

/** The last user message's text: what the pipeline retrieves for. */
function questionOf(body: ChatCompletionRequest): string {
  const last = [...body.messages].reverse().find((m) => m.role === 'user');
  const content = (last as { content?: unknown } | undefined)?.content;
  if (typeof content === 'string' && content.trim()) return content;
  if (Array.isArray(content)) {
    const text = content
      .map((p: { type?: string; text?: string }) => (p.type === 'text' ? (p.text ?? '') : ''))
      .join(' ')
      .trim();
    if (text) return text;
  }
  throw new ApiError(400, 'rag needs a user message with text to retrieve for', 'invalid_request_error', 'messages');
}

/** The passages in a system message ahead of the conversation (merged into a leading system message). */
function withPassages(
  messages: ChatCompletionRequest['messages'],
  passages: readonly Passage[],
): ChatCompletionRequest['messages'] {
  const grounding = `Answer using these passages:\n${passageBlock(passages)}`;
  const [first, ...others] = messages;
  return first!.role === 'system' && typeof first!.content === 'string'
    ? [{ ...first!, content: `${grounding}\n\n${first!.content}` }, ...others]
    : [{ role: 'system' as const, content: grounding }, ...messages];
}

export function useRagExtension(app: Hono, state: ServerState, stores: readonly RagStore[]): void {
  const byName = new Map(stores.map((s) => [s.name, s]));
  app.post('/v1/chat/completions', async (c, next) => {
    // read a copy: a request without `rag` goes on to the plain endpoint, which reads the body itself
    const json = await readJsonBody(c.req.raw.clone(), state.maxBodyBytes);
    if (typeof json !== 'object' || json === null || Array.isArray(json) || (json as { rag?: unknown }).rag == null)
      return next();
    const { rag: rawRag, ...rest } = json as Record<string, unknown>;
    const rag = parsed(ragField, rawRag, ['rag']);
    const served = byName.get(rag.store);
    if (!served)
      throw invalid(['store'], `no datastore '${rag.store}' (served: ${[...byName.keys()].join(', ') || 'none'})`);
    checkFields(rest, chatCompletionFields);
    const body = parsed(chatCompletionRequest, rest, []);
    const question = questionOf(body);
    const { model } = state.models.chatRoute(body.model);
    const ground = async (signal: AbortSignal): Promise<GroundedRequest> => {
      const retriever = retrieverFor(served, rag.k);
      const gathered = await gatherPassages(
        rag.pipeline,
        question,
        engineGenerator(model.engine, model.tokenizer, signal),
        retriever,
        { signal },
      );
      return {
        messages: withPassages(body.messages, gathered.passages),
        sources: {
          store: rag.store,
          pipeline: rag.pipeline,
          queries: gathered.queries,
          drafts: gathered.drafts,
          passages: gathered.passages,
          hit_rate: retriever.hitRate,
        },
      };
    };
    if (body.stream) return streamedRagReply(state, body, c.req.raw.signal, ground);
    const grounded = await ground(c.req.raw.signal);
    const res = await chatCompletion(state, { ...body, messages: grounded.messages }, c.req.raw.signal);
    if (!res.ok) return res;
    const completion = (await res.json()) as Record<string, unknown>;
    return Response.json({ ...completion, rag: grounded.sources });
  });
}
