/**
 * Which requests the device `sample` op can draw for, and the row it is given. Decided per
 * request, so a request's tokens never depend on what else shares its batch.
 */
import type { DeviceSampleRow } from './model-runner.js';
import type { RequestState } from './request.js';
import type { Sequence } from './sequence.js';

/** Plain sampling of a single completion: what the device `sample` op does (no penalties, bias, logprobs or grammar). */
export function deviceSamplable(request: RequestState): boolean {
  const p = request.params;
  return (
    p.n === 1 &&
    p.presencePenalty === 0 &&
    p.frequencyPenalty === 0 &&
    p.repetitionPenalty === 1 &&
    p.logitBias.size === 0 &&
    !p.logprobs &&
    !p.constraint
  );
}

/** The device draw of `seq`'s next token from logits row `row`: a pure function of (seed, stream, step). */
export function deviceRow(row: number, seq: Sequence): DeviceSampleRow {
  const p = seq.request.params;
  return {
    row,
    temperature: p.temperature,
    topK: p.topK,
    topP: p.topP,
    minP: p.minP,
    seed: p.seed!,
    stream: seq.index,
    step: seq.outputLength,
  };
}
