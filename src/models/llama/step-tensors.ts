/**
 * The per-step inputs of the compiled Llama function (token ids, positions, each sequence's last
 * row, and each row's adapter slot where adapters are served) and the attention's log-sum-exp
 * scratch: allocated, written and freed together.
 */
import type { Backend, Tensor } from '../../backends/backend.js';

export interface StepTensors {
  tokens: Tensor;
  positions: Tensor;
  last: Tensor;
  /** Each row's adapter slot (−1: none); present only in a graph that serves adapters. */
  adapter?: Tensor;
}

/** Inputs of a step of `n` rows over `b` sequences. */
export function allocStepTensors(backend: Backend, n: number, b: number, withAdapter: boolean): StepTensors {
  const i32 = (len: number, label: string) => backend.alloc({ dtype: 'i32', shape: [len] }, label, 'activations');
  return {
    tokens: i32(n, 'step.tokens'),
    positions: i32(n, 'step.positions'),
    last: i32(b, 'step.last'),
    ...(withAdapter ? { adapter: i32(n, 'step.adapter') } : {}),
  };
}

/** The attention's log-sum-exp of `n` rows (written by the kernel, unused after). */
export function allocLse(backend: Backend, n: number, numHeads: number): Tensor {
  return backend.alloc({ dtype: 'f32', shape: [n, numHeads] }, 'step.lse', 'activations');
}

export function writeStepInputs(
  backend: Backend,
  inputs: StepTensors,
  tokens: Int32Array,
  positions: Int32Array,
  last: Int32Array,
  adapterRows: Int32Array | undefined,
): void {
  backend.write(inputs.tokens, tokens);
  backend.write(inputs.positions, positions);
  backend.write(inputs.last, last);
  if (inputs.adapter && adapterRows) backend.write(inputs.adapter, adapterRows);
}

/** Every tensor a step allocated for its inputs, with its log-sum-exp scratch (to free them together). */
export function stepInputTensors(inputs: StepTensors, lse: Tensor): Tensor[] {
  return [inputs.tokens, inputs.positions, inputs.last, ...(inputs.adapter ? [inputs.adapter] : []), lse];
}

/** The compiled function's arguments: step inputs, weights, then the adapter stacks where served. */
export function stepArgs(inputs: StepTensors, weights: readonly Tensor[], lora: readonly Tensor[] | null): Tensor[] {
  const rest = lora ? [inputs.adapter!, ...weights, ...lora] : weights;
  return [inputs.tokens, inputs.positions, inputs.last, ...rest];
}
