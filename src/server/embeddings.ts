/**
 * POST /v1/embeddings in OpenAI's shape: `input` as a string, strings, token ids or arrays of
 * them; `encoding_format` float (arrays of numbers) or base64 (little-endian float32 bytes, what
 * the `openai` SDK asks for by default); `dimensions` only as the model's own (no truncation,
 * which would silently change what a normalised embedding means). Inputs longer than the model's
 * context are refused, as OpenAI does, never truncated.
 */
import type { EmbeddingsRequest } from './embeddings-schema.js';
import { ApiError } from './errors.js';
import { deviceLostError, recoveryRefusal } from './recovery-messages.js';
import type { EmbeddingModel } from './served-models.js';
import type { ServerState } from './server-state.js';

export async function embeddings(state: ServerState, body: EmbeddingsRequest): Promise<Response> {
  const model = state.models.embedding(body.model);
  if (body.dimensions != null && body.dimensions !== model.embedder.dimensions)
    throw new ApiError(
      400,
      `This model's embeddings have ${model.embedder.dimensions} dimensions; dimensions ${body.dimensions} is not supported.`,
      'invalid_request_error',
      'dimensions',
      'invalid_value',
    );
  const inputs = await inputTokens(model, body.input);
  const refused = recoveryRefusal(model, state.retryAfterSeconds);
  if (refused) throw refused;
  state.acquireSlot();
  let vectors: Float32Array[];
  try {
    vectors = await embedUnlessLost(state, model, inputs);
  } finally {
    state.releaseSlot();
  }
  const tokens = inputs.reduce((n, t) => n + t.length, 0);
  const base64 = body.encoding_format === 'base64';
  return Response.json({
    object: 'list',
    data: vectors.map((v, index) => ({ object: 'embedding', index, embedding: base64 ? toBase64(v) : Array.from(v) })),
    model: model.name,
    usage: { prompt_tokens: tokens, total_tokens: tokens },
  });
}

/**
 * The encoder's vectors, or 503 `device_lost` once its device is lost: the loss ends the request
 * at once (work submitted to a dead device may never settle), and a failure of the encoder that
 * the loss caused is reported as the loss, not as an internal error.
 */
async function embedUnlessLost(state: ServerState, model: EmbeddingModel, inputs: number[][]): Promise<Float32Array[]> {
  const lossesAtStart = model.recovery?.status().losses ?? 0;
  const lostNow = () => (model.recovery?.status().losses ?? 0) > lossesAtStart;
  const work = model.embedder.embed(inputs);
  const interrupted = model.interrupted.then(() => null);
  let vectors: Float32Array[] | null;
  try {
    vectors = await Promise.race([work, interrupted]);
  } catch (e) {
    if (lostNow()) throw deviceLostError(model, state.retryAfterSeconds);
    throw e;
  }
  if (vectors === null || lostNow()) {
    // the dead device's answer, if it ever comes, is no one's
    work.catch(() => {});
    throw deviceLostError(model, state.retryAfterSeconds);
  }
  return vectors;
}

/** Every input as token ids with the tokenizer's special tokens, checked against vocabulary and context. */
async function inputTokens(model: EmbeddingModel, input: EmbeddingsRequest['input']): Promise<number[][]> {
  const list: (string | number[])[] =
    typeof input === 'string' ? [input] : typeof input[0] === 'number' ? [input as number[]] : (input as string[]);
  for (const x of list) if (typeof x === 'string') model.prompts.checkLength(x.length, 'input');
  const out: number[][] = [];
  for (const x of list) out.push(typeof x === 'string' ? await model.prompts.encode(x, 'input', true) : x);
  const { vocabSize, maxContext } = model.embedder;
  out.forEach((ids, i) => {
    const param = list.length === 1 && typeof input !== 'object' ? 'input' : `input.${i}`;
    if (ids.some((t) => t >= vocabSize))
      throw new ApiError(
        400,
        `token ids must be in [0, ${vocabSize})`,
        'invalid_request_error',
        param,
        'invalid_value',
      );
    if (ids.length > maxContext)
      throw new ApiError(
        400,
        `This model's maximum context length is ${maxContext} tokens; input ${i} has ${ids.length}.`,
        'invalid_request_error',
        param,
        'context_length_exceeded',
      );
  });
  return out;
}

function toBase64(v: Float32Array): string {
  const bytes = new Uint8Array(v.length * 4);
  const view = new DataView(bytes.buffer);
  v.forEach((x, i) => view.setFloat32(i * 4, x, true));
  return Buffer.from(bytes).toString('base64');
}
