/**
 * What a step needs from the engine that runs it: the model, the page table, the scheduler, where
 * drawn tokens go, the counters behind `Engine.stats`, and the two ways a step can end the engine.
 */
import type { KvManager } from './kv-manager.js';
import type { ModelRunner } from './model-runner.js';
import type { RequestOutputs } from './request-outputs.js';
import type { Scheduler } from './scheduler.js';
import type { StepLog } from './step-log.js';
import type { StepTimes } from './step-times.js';

export interface StepCounters {
  steps: number;
  promptTokensComputed: number;
  generatedTokens: number;
}

export interface StepContext {
  readonly runner: ModelRunner;
  readonly kv: KvManager;
  readonly scheduler: Scheduler;
  readonly outputs: RequestOutputs;
  readonly counters: StepCounters;
  /** Where steps report their wall time, when the prefill budget is sized by it (`prefillItlRatio`). */
  readonly stepTimes?: StepTimes;
  /** Where every step reports its wall time, for `Engine.stepSummary`. */
  readonly stepLog: StepLog;
  /** True once the engine is shutting down or has failed: no further step may be started. */
  stopped(): boolean;
  /** Fails every request in flight and stops the engine (a step's results cannot be trusted). */
  failEngine(message: string): void;
}
