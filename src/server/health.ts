/**
 * Readiness (`/health`, `/health/ready`): 200 only when every served model can serve and the
 * server is not draining; otherwise 503 with each model's state, so a balancer stops sending.
 */
import type { Context } from 'hono';
import type { ServerState } from './server-state.js';

export function readiness(c: Context, state: ServerState): Response {
  const models = state.models.all().map((m) => {
    const failure = m.failure();
    return {
      id: m.name,
      kind: m.kind,
      status: failure ? 'failing' : 'ok',
      ...(failure ? { error: failure.message } : {}),
    };
  });
  const failing = models.find((m) => m.status === 'failing');
  const body = {
    status: failing ? 'failing' : state.isDraining ? 'draining' : 'ok',
    model: state.modelName,
    activeRequests: state.activeRequests,
    ...state.engine.stats(),
    models,
  };
  if (failing) return c.json({ ...body, error: failing.error }, 503);
  return state.isDraining ? c.json(body, 503, { 'retry-after': '1' }) : c.json(body);
}
