/**
 * A request inside the engine and the handle its submitter holds.
 */
import { AsyncQueue } from './async-queue.js';
import type { SamplingParams } from './sampling-params.js';
import type { Sequence } from './sequence.js';
import type { TokenLogprob } from './sampler.js';

export type FinishReason = 'stop' | 'length' | 'abort';

export interface GeneratedToken {
  id: number;
  logprob?: number;
  topLogprobs?: TokenLogprob[];
}

export type RequestEvent =
  | { type: 'delta'; index: number; text: string; tokens: GeneratedToken[] }
  | { type: 'finish'; index: number; reason: FinishReason };

export interface ChoiceResult {
  index: number;
  text: string;
  tokens: GeneratedToken[];
  finishReason: FinishReason;
}

export interface RequestResult {
  id: string;
  choices: ChoiceResult[];
  promptTokens: number;
  completionTokens: number;
  /** Prompt tokens whose KV came from the prefix cache at the first admission. */
  cachedTokens: number;
  /** Milliseconds (performance.now()) of arrival, first generated token and the end. */
  arrivedAt: number;
  firstTokenAt: number | null;
  finishedAt: number;
}

/** Engine-side state of one request. */
export class RequestState {
  readonly events = new AsyncQueue<RequestEvent>();
  readonly sequences: Sequence[] = [];
  readonly choices: (ChoiceResult | null)[];
  readonly generated: GeneratedToken[][];
  /** Whether the `n` completions have been split off the first one (after its prefill). */
  forked: boolean;
  aborted = false;
  cachedTokens = -1;
  firstTokenAt: number | null = null;
  readonly arrivedAt = performance.now();
  readonly result: Promise<RequestResult>;
  resolve!: (r: RequestResult) => void;
  reject!: (e: unknown) => void;

  constructor(
    readonly id: string,
    /** Arrival order: the scheduler's priority (older first, newest preempted first). */
    readonly order: number,
    readonly prompt: readonly number[],
    readonly params: SamplingParams,
  ) {
    this.forked = params.n === 1;
    this.choices = new Array(params.n).fill(null);
    this.generated = Array.from({ length: params.n }, () => []);
    this.result = new Promise<RequestResult>((res, rej) => {
      this.resolve = res;
      this.reject = rej;
    });
    // A submitter that only iterates events must not see an unhandled rejection.
    this.result.catch(() => {});
  }

  get finished(): boolean {
    return this.choices.every((c) => c !== null);
  }
}

/** What `Engine.submit` returns: events to iterate, the final result, and a way to cancel. */
export interface EngineRequest extends AsyncIterable<RequestEvent> {
  readonly id: string;
  readonly promptTokens: number;
  readonly result: Promise<RequestResult>;
  /**
   * Whether the scheduler has admitted it (its prefill began) at least once. Until then no work
   * was spent on it, so it may be handed to another engine with nothing lost.
   */
  readonly admitted: boolean;
  /** Cancels the request at any point; its pages are freed before the next step. */
  abort(): void;
}
