/**
 * `embedding`: y[t, :] = table[ids[t], :], table [V, D] (f32/f16/bf16), ids i32 [T] → y [T, D].
 *
 * Out-of-range ids: the CPU reference throws `EmbeddingIdError` naming the position and id. The
 * GPU kernel cannot raise an error without a readback that would stall every step, so it writes
 * a row of NaN for such an id: loud (it poisons the logits, which the engine checks) where a
 * clamp would silently embed the wrong token.
 */
import type { TensorDesc } from '../backends/backend.js';
import { type DType, isFloat } from '../tensor/dtype.js';
import { defineOp } from './op-spec.js';
import { FLOAT_DTYPES, randomIds, randomInput, storageEps } from './test-data.js';

export interface EmbeddingAttrs {
  readonly outDtype?: DType;
  readonly [key: string]: unknown;
}

export class EmbeddingIdError extends RangeError {
  constructor(position: number, id: number, vocab: number) {
    super(
      `embedding: id ${id} at position ${position} is outside the table's ${vocab} rows [0, ${vocab}); check the tokenizer matches the model`,
    );
    this.name = 'EmbeddingIdError';
  }
}

function checkInputs(inputs: readonly TensorDesc[]): { V: number; D: number; T: number } {
  if (inputs.length !== 2) throw new Error(`embedding: takes 2 inputs (table, ids), ${inputs.length} given`);
  const [table, ids] = inputs as [TensorDesc, TensorDesc];
  if (table.shape.length !== 2 || !isFloat(table.dtype))
    throw new Error(`embedding: table must be a float [V, D] tensor, got ${table.dtype} [${table.shape.join(', ')}]`);
  if (ids.shape.length !== 1 || ids.dtype !== 'i32')
    throw new Error(`embedding: ids must be i32 [T], got ${ids.dtype} [${ids.shape.join(', ')}]`);
  return { V: table.shape[0]!, D: table.shape[1]!, T: ids.shape[0]! };
}

export const embeddingOp = defineOp<EmbeddingAttrs>({
  name: 'embedding',
  outputs(attrs, inputs) {
    const { D, T } = checkInputs(inputs);
    const dtype = attrs.outDtype ?? inputs[0]!.dtype;
    if (!isFloat(dtype)) throw new Error(`embedding: outDtype ${dtype} is not a float type`);
    return [{ dtype, shape: [T, D] }];
  },
  reference(_attrs, [table, ids], inDescs) {
    const { V, D, T } = checkInputs(inDescs);
    const out = new Float64Array(T * D);
    for (let t = 0; t < T; t++) {
      const id = ids![t]!;
      if (!(Number.isInteger(id) && id >= 0 && id < V)) throw new EmbeddingIdError(t, id, V);
      out.set(table!.subarray(id * D, id * D + D), t * D);
    }
    return [out];
  },
  cases(rng, { big }) {
    const sizes: [number, number, number][] = [
      [1, 1, 1],
      [rng.int(2, 50), rng.int(1, 9) | 1, rng.int(1, 17)],
      [rng.int(100, 400), rng.int(60, 200), rng.int(5, 40)],
      [rng.int(3, 30), 2 * rng.int(100, 300), rng.int(1, 7)],
    ];
    // big stays under ~1 GB of float64 host data for the generator and the oracle
    if (big) sizes.push([128256, 1024, 61], [32000, 4096, 2048]);
    return sizes.map(([V, D, T]) => {
      const dtype = rng.pick(FLOAT_DTYPES);
      const outDtype = rng.next() < 0.3 ? rng.pick(FLOAT_DTYPES) : undefined;
      return {
        label: `${dtype}${outDtype ? `→${outDtype}` : ''} V${V} D${D} T${T}`,
        attrs: outDtype ? { outDtype } : {},
        inputs: [randomInput(rng, dtype, [V, D]), randomIds(rng, T, V)],
      };
    });
  },
  tolerance(attrs, [table]) {
    // a copy: exact when the output type is the table's, else one rounding
    const out = attrs.outDtype ?? table!.dtype;
    return out === table!.dtype ? { abs: 0, rel: 0 } : { abs: 0, rel: storageEps(out) };
  },
});
