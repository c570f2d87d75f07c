/**
 * The unfinished requests and everything that reaches their callers: each drawn token is checked
 * against the stop conditions, detokenized and streamed as a delta; finished completions free their
 * pages; a finished request resolves with its result, a failed one rejects.
 */
import type { RequestState, FinishReason, GeneratedToken, RequestResult } from './request.js';
import type { Scheduler } from './scheduler.js';
import type { Sequence } from './sequence.js';
import type { StepCounters } from './step-context.js';
import type { EngineTokenizer } from './tokenizer.js';

export interface TokenPick {
  token: number;
  logprob?: number;
  topLogprobs?: GeneratedToken['topLogprobs'];
}

export class RequestOutputs {
  /** Unfinished requests by arrival order (ids come from callers and need not be unique). */
  readonly requests = new Map<number, RequestState>();

  constructor(
    private readonly scheduler: Scheduler,
    private readonly tokenizer: EngineTokenizer,
    private readonly maxContext: number,
    private readonly counters: StepCounters,
  ) {}

  /** Appends a drawn token to `seq`, streams its text and finishes the sequence at a stop or its length limit. */
  accept(seq: Sequence, pick: TokenPick): void {
    const request = seq.request;
    const params = request.params;
    request.firstTokenAt ??= performance.now();
    seq.appendToken(pick.token);
    this.counters.generatedTokens++;
    const generated: GeneratedToken = { id: pick.token };
    if (pick.logprob !== undefined) generated.logprob = pick.logprob;
    if (pick.topLogprobs) generated.topLogprobs = pick.topLogprobs;
    request.generated[seq.index]!.push(generated);
    if (seq.constraint && !seq.constraint.accept(pick.token))
      throw new Error(`grammar rejected token ${pick.token} it allowed`);

    const isStopToken =
      (!params.ignoreEos && this.tokenizer.stopTokenIds.includes(pick.token)) ||
      params.stopTokenIds.includes(pick.token);
    let reason: FinishReason | null = null;
    let text = '';
    let stoppedByString = false;
    if (isStopToken) reason = 'stop';
    else {
      const out = seq.stopMatcher.push(seq.detokenizer.push(pick.token));
      text = out.emit;
      stoppedByString = out.stopped;
      if (out.stopped || seq.constraint?.isTerminated()) reason = 'stop';
    }
    if (!reason && (seq.outputLength >= params.maxTokens || seq.tokens.length >= this.maxContext)) reason = 'length';
    if (reason && !stoppedByString) {
      // Generation ended otherwise: release text held back for an incomplete character or a possible stop string.
      const tail = seq.stopMatcher.push(seq.detokenizer.flush());
      text += tail.emit + (tail.stopped ? '' : seq.stopMatcher.flush());
    }
    seq.text += text;
    request.events.push({ type: 'delta', index: seq.index, text, tokens: [generated] });
    if (reason) this.finishSequence(seq, reason);
  }

  finishSequence(seq: Sequence, reason: FinishReason): void {
    const request = seq.request;
    seq.status = 'finished';
    this.scheduler.remove(seq);
    seq.constraint?.dispose();
    request.choices[seq.index] = {
      index: seq.index,
      text: seq.text,
      tokens: request.generated[seq.index]!,
      finishReason: reason,
    };
    request.events.push({ type: 'finish', index: seq.index, reason });
    if (request.finished) this.complete(request);
  }

  /** Ends `request` with `error`: its sequences are removed, its stream and result reject. */
  fail(request: RequestState, error: unknown): void {
    if (!this.requests.has(request.order)) return;
    this.requests.delete(request.order);
    for (const seq of request.sequences) {
      if (seq.status !== 'finished') {
        seq.status = 'finished';
        this.scheduler.remove(seq);
        seq.constraint?.dispose();
      }
    }
    request.events.fail(error);
    request.reject(error);
  }

  /** Frees everything held by aborted requests; they finish with reason 'abort'. */
  reapAborted(): void {
    for (const request of [...this.requests.values()]) {
      if (!request.aborted) continue;
      for (const seq of request.sequences) if (seq.status !== 'finished') this.finishSequence(seq, 'abort');
    }
  }

  private complete(request: RequestState): void {
    this.requests.delete(request.order);
    const result: RequestResult = {
      id: request.id,
      choices: request.choices.map((c) => c!),
      promptTokens: request.prompt.length,
      completionTokens: request.choices.reduce((n, c) => n + c!.tokens.length, 0),
      cachedTokens: Math.max(0, request.cachedTokens),
      arrivedAt: request.arrivedAt,
      firstTokenAt: request.firstTokenAt,
      finishedAt: performance.now(),
    };
    request.events.close();
    request.resolve(result);
  }
}
