/** Shapes shared by the row-wise ops (reduce, softmax, norms, argmax): rows of every length class. */
import type { Rng } from '../util/rng.js';

/**
 * `[...lead, C]` shapes covering length 1, tiny odd rows, rows around a workgroup's width, and
 * one row longer than 4096 (the "many elements per thread" path); `big` adds LLM-sized rows.
 */
export function rowCaseShapes(rng: Rng, big: boolean): number[][] {
  const shapes = [
    [rng.int(1, 5), 1],
    [rng.int(2, 9), rng.int(2, 13) | 1],
    [rng.int(2, 4), rng.int(3, 5), rng.int(60, 140) | 1],
    [rng.int(2, 7), rng.int(200, 1100) | 1],
    [rng.int(1, 3), rng.int(4097, 6000)],
    [rng.int(1, 3)],
  ];
  if (big) shapes.push([rng.int(60, 130), 4096], [rng.int(2, 9), 128256], [rng.int(3000, 5000) | 1, 63]);
  return shapes;
}

/** Rows and row length of a `[..., C]` tensor (a 1-D tensor is one row). */
export function rowsAndCols(shape: readonly number[]): { rows: number; cols: number } {
  const cols = shape[shape.length - 1] ?? 1;
  let rows = 1;
  for (let i = 0; i < shape.length - 1; i++) rows *= shape[i]!;
  return { rows, cols };
}
