/**
 * An op is declared once: its output types, a float64 reference, random cases at odd sizes and
 * the tolerance its arithmetic deserves. The CPU backend runs the reference; the conformance
 * suite runs every case on every backend and compares against it (ggml's test-backend-ops idea).
 */
import type { Attrs, TensorDesc } from '../backends/backend.js';
import type { HostArray } from '../tensor/dtype.js';
import type { Rng } from '../util/rng.js';

export interface CaseInput {
  readonly desc: TensorDesc;
  readonly data: HostArray;
}

export interface OpCase<A extends Attrs = Attrs> {
  readonly label: string;
  readonly attrs: A;
  readonly inputs: readonly CaseInput[];
}

/** `|got − want| ≤ abs + rel·|want|` element-wise; NaN never passes. */
export interface Tolerance {
  readonly abs: number;
  readonly rel: number;
}

/** A custom comparison (e.g. sampling, where any token inside the drawn CDF interval is right). Returns a failure message or null. */
export type CheckFn<A extends Attrs> = (
  attrs: A,
  inputs: readonly Float64Array[],
  got: readonly Float64Array[],
  want: readonly Float64Array[],
  /** The input types (a check whose bound depends on shapes, e.g. matmul's K, reads them here). */
  inDescs: readonly TensorDesc[],
) => string | null;

export interface OpSpec<A extends Attrs = Attrs> {
  readonly name: string;
  /** Output types from input types; throws a clear error on bad inputs. */
  outputs(attrs: A, inputs: readonly TensorDesc[]): TensorDesc[];
  /** The float64 oracle. Inputs are decoded to float64 exactly as stored. */
  reference(
    attrs: A,
    inputs: readonly Float64Array[],
    inDescs: readonly TensorDesc[],
    outDescs: readonly TensorDesc[],
  ): Float64Array[];
  /** Fresh random cases at odd sizes; `big` adds sizes that only a real GPU should run. */
  cases(rng: Rng, opts: { big: boolean }): OpCase<A>[];
  tolerance(attrs: A, inDescs: readonly TensorDesc[]): Tolerance;
  check?: CheckFn<A>;
}

/** Erases the attribute type so specs of different ops can sit in one registry. */
export function defineOp<A extends Attrs>(spec: OpSpec<A>): OpSpec<Attrs> {
  return spec as unknown as OpSpec<Attrs>;
}
