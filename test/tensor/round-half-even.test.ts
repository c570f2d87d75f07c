/**
 * Ties to even in every quantizer's host side (src/tensor/round-half-even.ts), as WGSL's `round`,
 * WebAssembly's `nearest` and PyTorch's `torch.round` do. A weight-only group whose scale is exact
 * puts values on k + ½ on purpose: with `Math.round` (halves up) the W4A16 codes there differed from
 * PyTorch's re-statement of the format, and the perplexity check against PyTorch missed its 1e-3.
 */
import { describe, expect, it } from 'vitest';
import { fakeQuantSymmetric, fakeQuantW4 } from '../../src/quant/atom-fake-quant.js';
import { ATOM_GROUP, quantizeActivations } from '../../src/quant/w4a4-format.js';
import { roundHalfEven } from '../../src/tensor/round-half-even.js';

describe('round half to even', () => {
  it('sends halves to the even neighbour, everything else to the nearest', () => {
    const cases: [number, number][] = [
      [0.5, 0],
      [1.5, 2],
      [2.5, 2],
      [3.5, 4],
      [-0.5, -0],
      [-1.5, -2],
      [-2.5, -2],
      [-5.5, -6],
      [2.4999, 2],
      [2.5001, 3],
      [-2.5001, -3],
      [7, 7],
      [-7, -7],
      [1e15 + 0.5, 1e15],
    ];
    for (const [x, want] of cases) expect(roundHalfEven(x), String(x)).toBe(want);
  });

  it('the W4A16 format rounds a value on a half step to the even code', () => {
    // a group from -3.75 to 0: scale (0 + 3.75) / 15 = 0.25 (exact in f16), zero point 15
    const row = new Float64Array(128);
    row[0] = -3.75;
    row[1] = -0.625; // x / scale + zero = 12.5 → code 12, i.e. 0.25 · (12 − 15) = −0.75 (halves up: −0.5)
    row[2] = -0.375; // 13.5 → 14 → −0.25
    const q = fakeQuantW4(row, 1, 128);
    expect([q[0], q[1], q[2], q[3]]).toEqual([-3.75, -0.75, -0.25, 0]);
  });

  it('the symmetric and the Atom activation quantizers round halves to even', () => {
    // absmax 7 at qmax 7: scale 1, so 2.5 and −2.5 are ties
    const x = new Float64Array(2 * ATOM_GROUP);
    x.set([7, 2.5, -2.5, 3.5, -3.5]);
    x.set([127, 2.5, -2.5], ATOM_GROUP); // the INT8 group: absmax 127 at qmax 127, scale 1
    expect(Array.from(fakeQuantSymmetric(x, 1, 2 * ATOM_GROUP, ATOM_GROUP, 7, false).slice(0, 5))).toEqual([
      7, 2, -2, 4, -4,
    ]);
    const { q } = quantizeActivations(x, 1, 2 * ATOM_GROUP);
    expect(Array.from(q.slice(0, 5))).toEqual([7, 2, -2, 4, -4]);
    expect(Array.from(q.slice(ATOM_GROUP, ATOM_GROUP + 3))).toEqual([127, 2, -2]);
  });
});
