/** The body of POST /v1/embeddings (OpenAI's fields; validated with zod like the other endpoints). */
import { z } from 'zod';
import type { FieldPolicy } from './request-fields.js';

/** OpenAI's limit on inputs per request. */
export const MAX_EMBEDDING_INPUTS = 2048;

const tokenIds = z.array(z.number().int().min(0)).min(1, 'a token array may not be empty');

export const embeddingsRequest = z.object({
  model: z.string().min(1),
  input: z.union([
    z.string().min(1, 'input may not be an empty string'),
    z.array(z.string().min(1, 'input may not contain empty strings')).min(1).max(MAX_EMBEDDING_INPUTS),
    tokenIds,
    z.array(tokenIds).min(1).max(MAX_EMBEDDING_INPUTS),
  ]),
  encoding_format: z.enum(['float', 'base64']).nullish(),
  dimensions: z.number().int().min(1).nullish(),
  user: z.string().nullish(),
});

export const embeddingsFields: FieldPolicy = { known: new Set(Object.keys(embeddingsRequest.shape)) };
export type EmbeddingsRequest = z.infer<typeof embeddingsRequest>;
