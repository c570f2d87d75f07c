/**
 * The kernels' vector exp (wasm/fast-exp.ts) against Math.exp: its stated relative-error bound
 * over a dense sweep of the f32 range where e^x is a normal f32, and the values the online softmax
 * relies on (−∞ and underflow give exactly 0, 0 gives 1).
 */
import { describe, expect, it } from 'vitest';
import { cpuRuntime } from '../../src/backends/cpu/cpu-runtime.js';

/** The bound fast-exp.ts states. */
const REL_BOUND = 1.2e-7;

function expOf(xs: Float32Array): Float32Array {
  const { heap, pool } = cpuRuntime();
  const src = heap.alloc(xs.length * 4);
  const dst = heap.alloc(xs.length * 4);
  try {
    heap.f32(src.offset, xs.length).set(xs);
    pool.run('expF32', [src.offset, dst.offset], xs.length, 0);
    return heap.f32(dst.offset, xs.length).slice();
  } finally {
    heap.release(src);
    heap.release(dst);
  }
}

describe('CPU vector exp', () => {
  it(`relative error ≤ ${REL_BOUND} (one f32 ulp) over [−87.3, 88.3] (2M points, vector and scalar tails)`, () => {
    const n = 2_000_001; // odd: the last elements take the scalar path
    const xs = Float32Array.from({ length: n }, (_, i) => -87.3 + (175.6 * i) / (n - 1));
    const got = expOf(xs);
    let worst = 0;
    let at = 0;
    for (let i = 0; i < n; i++) {
      const want = Math.exp(xs[i]!);
      const e = Math.abs(got[i]! - want) / want;
      if (e > worst) [worst, at] = [e, xs[i]!];
    }
    console.log(`fast exp: worst relative error ${worst.toExponential(3)} at x = ${at}`);
    expect(worst).toBeLessThanOrEqual(REL_BOUND);
  });

  it('exact at the points the online softmax depends on', () => {
    const got = expOf(Float32Array.from([-Infinity, -1000, -88, 0, -0, 1, Infinity]));
    expect([...got.slice(0, 3)]).toEqual([0, 0, 0]);
    expect(got[3]).toBe(1);
    expect(got[4]).toBe(1);
    expect(Math.abs(got[5]! - Math.E) / Math.E).toBeLessThanOrEqual(REL_BOUND);
    // clamped at 88.37626: finite, e^88.37626 ≈ 2.406e38
    const top = Math.exp(Math.fround(88.37626));
    expect(Math.abs(got[6]! - top) / top).toBeLessThanOrEqual(REL_BOUND);
  });

  it('can fail: a truncated polynomial (degree 2) exceeds the bound', () => {
    // the same reduction with e^r ≈ 1 + r + r²/2: what the bound would let slip if set loosely
    let worst = 0;
    for (let r = -0.3466; r <= 0.3466; r += 1e-4) {
      const approx = Math.fround(1 + r + (r * r) / 2);
      worst = Math.max(worst, Math.abs(approx - Math.exp(r)) / Math.exp(r));
    }
    expect(worst).toBeGreaterThan(REL_BOUND);
  });
});
