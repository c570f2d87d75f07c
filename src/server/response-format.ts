/**
 * The grammar a chat request's `response_format` asks for, by the server's rules (json_object: any
 * JSON object; json_schema: its schema, which is required). Shared by the server's chat route and
 * the page's chat (browser-chat.ts), so both refuse and constrain alike.
 */
import type { SamplingParams } from '../engine/sampling-params.js';
import { ApiError } from './errors.js';
import type { GrammarService } from './grammar.js';
import type { ChatCompletionRequest } from './schemas.js';

export async function responseFormatConstraint(
  model: { grammarService(): Promise<GrammarService> },
  body: ChatCompletionRequest,
): Promise<SamplingParams['constraint'] | undefined> {
  const format = body.response_format;
  if (format?.type === 'json_object') return (await model.grammarService()).jsonObject();
  if (format?.type !== 'json_schema') return undefined;
  const schema = format.json_schema.schema;
  if (!schema)
    throw new ApiError(
      400,
      'response_format.json_schema.schema is required',
      'invalid_request_error',
      'response_format.json_schema.schema',
    );
  return (await model.grammarService()).jsonSchema(schema);
}
