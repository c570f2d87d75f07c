/**
 * LoRA adapters over the served chat models: listed beside the models in /v1/models (a client picks
 * one through `model`, as `base:adapter` or by its name alone), added at run time with
 * POST /v1/adapters {name, path, model?} and removed with DELETE /v1/adapters/{name}. Both sit
 * behind the API key like every route when one is set. An adapter loads into host memory here; the
 * runner uploads it into a device slot on its first step, behind the steps already submitted.
 */
import type { Hono } from 'hono';
import { loadPeftAdapter } from '../lora/peft-adapter.js';
import { ApiError } from './errors.js';
import { readJsonBody } from './request-body.js';
import type { ChatModel } from './served-models.js';
import type { ServerState } from './server-state.js';

/** /v1/models entries of every adapter, each naming its base model as `parent`. */
export function adapterEntries(state: ServerState) {
  return state.models.chatModels().flatMap((m) =>
    (m.engine.runner.adapters?.names() ?? []).map((name) => ({
      id: name,
      object: 'model',
      created: state.createdAt,
      owned_by: 'tessera',
      root: `${m.name}:${name}`,
      parent: m.name,
      max_model_len: m.maxContext,
    })),
  );
}

const bad = (status: number, message: string, param: string | null, code: string) =>
  new ApiError(status, message, 'invalid_request_error', param, code);

function holderOf(state: ServerState, name: string): ChatModel | undefined {
  return state.models.chatModels().find((m) => m.engine.runner.adapters?.has(name));
}

export function useAdapterRoutes(app: Hono, state: ServerState): void {
  app.post('/v1/adapters', async (c) => {
    const body = (await readJsonBody(c.req.raw, state.maxBodyBytes)) as Record<string, unknown> | null;
    if (body === null || typeof body !== 'object' || Array.isArray(body))
      throw bad(400, 'The body must be a JSON object {name, path, model?}.', null, 'invalid_body');
    const { name, path, model: base } = body;
    if (typeof name !== 'string' || !/^[A-Za-z0-9._-]+$/.test(name))
      throw bad(400, "'name' must be a non-empty string of letters, digits, '.', '_' or '-'.", 'name', 'invalid_value');
    if (typeof path !== 'string' || path === '')
      throw bad(
        400,
        "'path' must be the adapter folder (adapter_config.json + adapter_model.safetensors).",
        'path',
        'invalid_value',
      );
    if (base !== undefined && typeof base !== 'string')
      throw bad(400, "'model' must be a string.", 'model', 'invalid_value');
    const model = state.models.chat(base ?? null);
    const registry = model.engine.runner.adapters;
    if (!registry?.base)
      throw bad(
        400,
        `The model '${model.name}' was started without LoRA support (start it with --lora).`,
        'model',
        'lora_disabled',
      );
    if (state.models.get(name) || holderOf(state, name))
      throw bad(409, `The name '${name}' is already taken by a model or an adapter.`, 'name', 'adapter_exists');
    let adapter;
    try {
      adapter = await loadPeftAdapter(path, name, registry.base);
    } catch (e) {
      // every load failure here is the named folder's: missing, unreadable, or not a fitting LoRA
      throw bad(400, `Cannot load adapter '${name}': ${(e as Error).message}`, 'path', 'invalid_adapter');
    }
    try {
      registry.add(adapter);
    } catch (e) {
      throw bad(400, (e as Error).message, 'path', 'invalid_adapter');
    }
    return c.json({ id: name, object: 'model', parent: model.name, rank: adapter.config.rank }, 201);
  });
  app.delete('/v1/adapters/:name', (c) => {
    const name = c.req.param('name');
    const model = holderOf(state, name);
    if (!model) throw bad(404, `No adapter '${name}' is loaded.`, 'name', 'adapter_not_found');
    if (model.engine.adapterInUse(name))
      throw bad(
        409,
        `The adapter '${name}' serves requests still running; retry once they finish.`,
        'name',
        'adapter_in_use',
      );
    model.engine.runner.adapters!.remove(name);
    return c.json({ id: name, object: 'model', deleted: true });
  });
}
