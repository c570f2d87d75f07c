/** An adapter with A and B rounded to f16 and back: what f16 adapter stacks hold of it. */
import type { LoraAdapter } from '../../src/lora/peft-adapter.js';
import { toFloat64 } from '../../src/tensor/dtype.js';
import { f16FromF32 } from '../../src/tensor/f16-array.js';

const round = (x: Float32Array) => Float32Array.from(toFloat64('f16', f16FromF32(x)));

export function f16RoundedAdapter(adapter: LoraAdapter): LoraAdapter {
  return {
    ...adapter,
    layers: adapter.layers.map(
      (mods) => new Map([...mods].map(([m, p]) => [m, { ...p, a: round(p.a), b: round(p.b) }])),
    ),
  };
}
