/**
 * Readiness (`/health`, `/health/ready`): 200 only when every served model can serve and the
 * server is not draining; otherwise 503 with each model's state (ok, recovering from a lost
 * device, failing) and the reason, so a balancer stops sending.
 */
import type { Context } from 'hono';
import type { ServerState } from './server-state.js';

export function readiness(c: Context, state: ServerState): Response {
  const models = state.models.all().map((m) => {
    const failure = m.failure();
    return {
      id: m.name,
      kind: m.kind,
      status: m.health(),
      ...(failure ? { error: failure.message } : {}),
    };
  });
  const failing = models.find((m) => m.status === 'failing');
  const recovering = models.find((m) => m.status === 'recovering');
  const body = {
    status: failing ? 'failing' : recovering ? 'recovering' : state.isDraining ? 'draining' : 'ok',
    model: state.modelName,
    activeRequests: state.activeRequests,
    ...state.engine.stats(),
    models,
  };
  if (failing) return c.json({ ...body, error: failing.error }, 503);
  // a reload under way: worth asking again soon
  if (recovering)
    return c.json({ ...body, error: recovering.error }, 503, { 'retry-after': String(state.retryAfterSeconds) });
  return state.isDraining ? c.json(body, 503, { 'retry-after': '1' }) : c.json(body);
}
