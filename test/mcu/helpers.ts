/** Shared fixtures for the MCU tests. */
import { SeededRandom } from '../../src/mcu/graph/seeded-random.js';
import type { McuGraph } from '../../src/mcu/graph/types.js';

/** A deterministic int8 input for a graph. */
export function inputFor(graph: McuGraph, seed = 5): Int8Array {
  const s = graph.tensors[graph.input]!.shape;
  return new SeededRandom(seed).int8Array(s.h * s.w * s.c);
}
