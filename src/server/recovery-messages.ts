/**
 * What clients and logs are told about a model brought back after a lost device, chat or
 * embedding alike: the log line of each phase, the 503 a new request gets while the model reloads
 * (or after its reloads failed), and the 503 of a request that was in flight at the loss.
 */
import { ApiError } from './errors.js';
import type { RecoveryStatus } from './recovery-supervisor.js';

/** A served model as these messages see it: its name and its supervisor, if it has one. */
export interface RecoverableModel {
  readonly name: string;
  readonly recovery: { status(): RecoveryStatus } | null;
}

export function describeChange(name: string, s: RecoveryStatus): string {
  const head = `[tessera serve] model '${name}'`;
  switch (s.phase) {
    case 'recovering':
      return s.attempts === 0
        ? `${head}: ${firstLine(s.reason)}; reloading it on a new device`
        : `${head}: reload attempt ${s.attempts} failed; retrying (${firstLine(s.reason)})`;
    case 'ready':
      return `${head}: reloaded on a new device and serving again`;
    case 'failed':
      return `${head}: not serving: ${firstLine(s.reason)}`;
    case 'stopped':
      return `${head}: recovery stopped (server closing)`;
  }
}

export function firstLine(text: string | null): string {
  return (text ?? '').split('\n')[0]!;
}

/** Why a new request to this model is refused now (recovering or given up), or null. */
export function recoveryRefusal(model: RecoverableModel, retryAfterSeconds: number): ApiError | null {
  const s = model.recovery?.status();
  if (!s || s.phase === 'ready' || s.phase === 'stopped') return null;
  if (s.phase === 'recovering')
    return new ApiError(
      503,
      `The model '${model.name}' is being reloaded after its GPU device was lost (${firstLine(s.reason)}); retry shortly.`,
      'server_error',
      null,
      'model_recovering',
      retryAfterSeconds,
    );
  return new ApiError(
    503,
    `The model '${model.name}' is unavailable: ${firstLine(s.reason)}. Restart the server to load it again.`,
    'server_error',
    null,
    'model_unavailable',
  );
}

/** The error of a request that was in flight when its model's device was lost. */
export function deviceLostError(model: RecoverableModel, retryAfterSeconds: number): ApiError {
  const status = model.recovery?.status();
  const reason = firstLine(status?.reason ?? 'the GPU device was lost');
  const next =
    status?.phase === 'failed'
      ? 'The model could not be reloaded.'
      : status?.phase === 'ready'
        ? 'The model has been reloaded: retry.'
        : 'The model is being reloaded: retry shortly.';
  return new ApiError(
    503,
    `The GPU device serving '${model.name}' was lost before this request finished (${reason}); its output is incomplete. ${next}`,
    'server_error',
    null,
    'device_lost',
    retryAfterSeconds,
  );
}
