/**
 * Request bodies of the OpenAI-compatible endpoints, validated with zod: known fields are checked
 * for type and range. Which top-level fields an endpoint takes at all is its `FieldPolicy`
 * (request-fields.ts): the schema's own fields, nothing else.
 */
import { z } from 'zod';
import type { FieldPolicy } from './request-fields.js';

const stop = z.union([z.string(), z.array(z.string()).max(16)]).nullish();
const logitBias = z
  .record(z.string().regex(/^\d+$/, 'logit_bias keys are token ids'), z.number().min(-100).max(100))
  .nullish();

/**
 * The vendor extensions accepted beyond OpenAI's fields (vLLM's names and meanings); any other
 * field OpenAI does not define is refused as unrecognized.
 */
export const VENDOR_EXTENSIONS = ['top_k', 'min_p', 'repetition_penalty', 'ignore_eos', 'stop_token_ids'] as const;

/** Fields shared by chat and text completions (OpenAI's, then the vendor extensions). */
const sampling = {
  model: z.string().min(1),
  max_tokens: z.number().int().min(1).nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().gt(0).max(1).nullish(),
  n: z.number().int().min(1).max(16).nullish(),
  stream: z.boolean().nullish(),
  stream_options: z.object({ include_usage: z.boolean().nullish() }).nullish(),
  stop,
  presence_penalty: z.number().min(-2).max(2).nullish(),
  frequency_penalty: z.number().min(-2).max(2).nullish(),
  logit_bias: logitBias,
  seed: z.number().int().nullish(),
  user: z.string().nullish(),
  top_k: z.number().int().min(-1).nullish(),
  min_p: z.number().min(0).max(1).nullish(),
  repetition_penalty: z.number().gt(0).max(10).nullish(),
  ignore_eos: z.boolean().nullish(),
  stop_token_ids: z.array(z.number().int().min(0)).nullish(),
};

const contentPart = z.object({ type: z.literal('text'), text: z.string() });
const messageContent = z.union([z.string(), z.array(contentPart)]).nullish();
const toolCall = z.object({
  id: z.string(),
  type: z.literal('function'),
  function: z.object({ name: z.string(), arguments: z.string() }),
});
const message = z.object({
  role: z.enum(['system', 'developer', 'user', 'assistant', 'tool']),
  content: messageContent,
  name: z.string().nullish(),
  tool_calls: z.array(toolCall).nullish(),
  tool_call_id: z.string().nullish(),
});

export const functionTool = z.object({
  type: z.literal('function'),
  function: z.object({
    name: z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/, 'function names are 1-64 letters, digits, _ or -'),
    description: z.string().nullish(),
    parameters: z.record(z.string(), z.unknown()).nullish(),
    strict: z.boolean().nullish(),
  }),
});

const responseFormat = z.discriminatedUnion('type', [
  z.object({ type: z.literal('text') }),
  z.object({ type: z.literal('json_object') }),
  z.object({
    type: z.literal('json_schema'),
    json_schema: z.object({
      name: z.string(),
      description: z.string().nullish(),
      schema: z.record(z.string(), z.unknown()).nullish(),
      strict: z.boolean().nullish(),
    }),
  }),
]);

/**
 * OpenAI chat fields that change nothing a local model returns (storage, billing tier, cache and
 * abuse-tracking hints): type-checked and ignored.
 */
const ignoredChatFields = {
  metadata: z.record(z.string(), z.string()).nullish(),
  store: z.boolean().nullish(),
  service_tier: z.string().nullish(),
  prompt_cache_key: z.string().nullish(),
  prompt_cache_retention: z.string().nullish(),
  prompt_cache_options: z.record(z.string(), z.unknown()).nullish(),
  safety_identifier: z.string().nullish(),
};

export const chatCompletionRequest = z.object({
  ...sampling,
  ...ignoredChatFields,
  messages: z.array(message).min(1),
  max_completion_tokens: z.number().int().min(1).nullish(),
  logprobs: z.boolean().nullish(),
  top_logprobs: z.number().int().min(0).max(20).nullish(),
  response_format: responseFormat.nullish(),
  tools: z.array(functionTool).max(64).nullish(),
  tool_choice: z
    .union([
      z.enum(['none', 'auto', 'required']),
      z.object({ type: z.literal('function'), function: z.object({ name: z.string() }) }),
    ])
    .nullish(),
  parallel_tool_calls: z.boolean().nullish(),
});

export const completionRequest = z.object({
  ...sampling,
  prompt: z.union([
    z.string(),
    z.array(z.string()).min(1),
    z.array(z.number().int()).min(1),
    z.array(z.array(z.number().int()).min(1)).min(1),
  ]),
  logprobs: z.number().int().min(0).max(5).nullish(),
  echo: z.boolean().nullish(),
  best_of: z.number().int().min(1).nullish(),
  suffix: z.string().nullish(),
});

/** vLLM's POST /tokenize: a text prompt, or chat messages rendered with the chat template. */
export const tokenizeRequest = z
  .object({
    model: z.string().min(1).nullish(),
    prompt: z.string().nullish(),
    messages: z.array(message).min(1).nullish(),
    tools: z.array(functionTool).max(64).nullish(),
    add_special_tokens: z.boolean().nullish(),
    add_generation_prompt: z.boolean().nullish(),
    return_token_strs: z.boolean().nullish(),
  })
  .refine((b) => (b.prompt == null) !== (b.messages == null), {
    message: 'give exactly one of prompt and messages',
    path: ['prompt'],
  });

/** vLLM's POST /detokenize. */
export const detokenizeRequest = z.object({
  model: z.string().min(1).nullish(),
  tokens: z.array(z.number().int()),
});

const never = () => false;

export const chatCompletionFields: FieldPolicy = {
  known: new Set(Object.keys(chatCompletionRequest.shape)),
  // OpenAI's chat fields for what this server does not do; text-only modalities are harmless.
  unsupported: {
    modalities: (v) => Array.isArray(v) && v.every((m) => m === 'text'),
    audio: never,
    prediction: never,
    web_search_options: never,
    reasoning_effort: never,
    verbosity: never,
    moderation: never,
    functions: never,
    function_call: never,
  },
};
export const completionFields: FieldPolicy = { known: new Set(Object.keys(completionRequest.shape)) };
export const tokenizeFields: FieldPolicy = { known: new Set(Object.keys(tokenizeRequest.shape)) };
export const detokenizeFields: FieldPolicy = { known: new Set(Object.keys(detokenizeRequest.shape)) };

export type ChatCompletionRequest = z.infer<typeof chatCompletionRequest>;
export type CompletionRequest = z.infer<typeof completionRequest>;
export type TokenizeRequest = z.infer<typeof tokenizeRequest>;
export type DetokenizeRequest = z.infer<typeof detokenizeRequest>;
export type FunctionTool = z.infer<typeof functionTool>;
