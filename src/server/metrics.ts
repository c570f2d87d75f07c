/**
 * What the HTTP layer reports about its requests. The interface has no Node dependency so the
 * server core can run in a browser worker; `prom-metrics.ts` implements it with prom-client.
 */
import type { EngineStats } from '../engine/engine.js';

export type RequestOutcome = 'ok' | 'error' | 'aborted' | 'timeout' | 'shutdown' | 'device_lost' | 'migrated';

export interface RequestObserver {
  /** `count` new tokens arrived for this request (the first call marks time to first token). */
  tokens(count: number): void;
  finished(outcome: RequestOutcome, promptTokens: number, completionTokens: number): void;
}

export interface ServerMetrics {
  requestStarted(endpoint: string): RequestObserver;
  /** A response with this status was sent for `endpoint` (including rejections). */
  responded(endpoint: string, status: number): void;
  render(stats: EngineStats): Promise<{ contentType: string; body: string }>;
}
