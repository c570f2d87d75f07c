/** Logits of a recorded step against the same step run unrecorded: equal within 1e-4 relative (other kernels may run in other row counts). */
import { expect } from 'vitest';

export function expectLogitsClose(got: Float32Array, want: Float32Array, what: string): void {
  expect(got.length, what).toBe(want.length);
  for (let i = 0; i < want.length; i++)
    if (!(Math.abs(got[i]! - want[i]!) <= 1e-4 * (1 + Math.abs(want[i]!))))
      expect.fail(`${what}: logit ${i} is ${got[i]}, unrecorded ${want[i]}`);
}
