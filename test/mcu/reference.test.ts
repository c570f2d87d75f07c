import { describe, expect, it } from 'vitest';
import { McuGraphBuilder } from '../../src/mcu/graph/builder.js';
import { SeededRandom } from '../../src/mcu/graph/seeded-random.js';
import type { ConvParams, DepthwiseParams, Requant } from '../../src/mcu/graph/types.js';
import { tinyTestNet } from '../../src/mcu/models/zoo.js';
import { runReference } from '../../src/mcu/reference/interpreter.js';
import { convReference, depthwiseReference } from '../../src/mcu/reference/reference-ops.js';

const halfRequant = (channels: number, outZero: number): Requant => ({
  multiplier: new Int32Array(channels).fill(2 ** 30),
  shift: new Int32Array(channels),
  outZero,
  actMin: -128,
  actMax: 127,
});

describe('reference interpreter', () => {
  it('computes a pointwise conv by hand: (x − zin)·w + bias, halved, plus the output zero point', () => {
    const p: ConvParams = {
      cin: 2,
      cout: 1,
      k: 1,
      stride: 1,
      pad: 0,
      inZero: 1,
      weights: Int8Array.from([3, -2]),
      bias: Int32Array.from([5]),
      requant: halfRequant(1, -4),
    };
    const out = convReference({ data: Int8Array.from([11, 21, -9, 1]), shape: { h: 1, w: 2, c: 2 } }, p);
    // pixel 0: (10·3 + 20·−2 + 5) = −5 → ·½ = −2.5, TFLite rounds a negative half toward zero → −2, −2 − 4 = −6
    // pixel 1: (−10·3 + 0 + 5) = −25 → −12.5 → −12, −12 − 4 = −16
    expect(Array.from(out.data)).toEqual([-6, -16]);
  });

  it('treats depthwise padding as real zero and clamps to the activation range', () => {
    const p: DepthwiseParams = {
      c: 1,
      k: 3,
      stride: 1,
      pad: 1,
      inZero: -1,
      weights: new Int8Array(9).fill(1),
      bias: new Int32Array(1),
      requant: { ...halfRequant(1, 0), actMin: 0, actMax: 3 },
    };
    // 2×2 of (x − zin) = 1: every window sees all 4 pixels → acc 4 → 2 (in range), then a big input clamps.
    expect(
      Array.from(depthwiseReference({ data: new Int8Array(4).fill(0), shape: { h: 2, w: 2, c: 1 } }, p).data),
    ).toEqual([2, 2, 2, 2]);
    expect(
      Array.from(depthwiseReference({ data: new Int8Array(4).fill(9), shape: { h: 2, w: 2, c: 1 } }, p).data),
    ).toEqual([3, 3, 3, 3]);
  });

  it('keeps activations spread over the int8 range through a whole network', () => {
    // Guards every bit-exact test: a collapsed (constant) network would match for wrong reasons.
    const g = tinyTestNet();
    const s = g.tensors[g.input]!.shape;
    const values = runReference(g, new SeededRandom(5).int8Array(s.h * s.w * s.c));
    for (const t of g.tensors) {
      expect(new Set(values[t.id]).size, `tensor ${t.name}`).toBeGreaterThanOrEqual(Math.min(10, values[t.id]!.length));
    }
  });

  it('rejects malformed layers with a clear message', () => {
    const b = () => new McuGraphBuilder('bad', { h: 8, w: 8, c: 4 }, 1);
    expect(() => b().depthwise({ k: 4, stride: 1 })).toThrow(/kernel must be 3, 5 or 7/);
    expect(() => b().depthwise({ k: 3, stride: 3 })).toThrow(/stride must be 1 or 2/);
    expect(() => b().fullyConnected({ cout: 3 })).toThrow(/needs a 1×1 input/);
    expect(() => new McuGraphBuilder('bad', { h: 0, w: 8, c: 4 }, 1)).toThrow(/positive integer/);
    expect(() => runReference(b().pointwise({ cout: 2 }).build(), new Int8Array(3))).toThrow(/expects 256/);
  });
});
