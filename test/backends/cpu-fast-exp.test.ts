/**
 * The kernels' vector exp (wasm/fast-exp.ts) against Math.exp: its stated relative-error bound
 * over a dense sweep of the f32 range where e^x is a normal f32, and the values the online softmax
 * relies on (−∞ and underflow give exactly 0, 0 gives 1); and the SiLU epilogue that uses it.
 */
import { describe, expect, it } from 'vitest';
import { CpuBackend } from '../../src/backends/cpu/cpu-backend.js';
import { cpuRuntime } from '../../src/backends/cpu/cpu-runtime.js';
import { getOp } from '../../src/ops/registry.js';
import { randomInput } from '../../src/ops/test-data.js';
import { toFloat64 } from '../../src/tensor/dtype.js';
import { seedNote, testSeed } from '../../src/testing/seed.js';
import { Rng } from '../../src/util/rng.js';

const seed = testSeed();

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

describe(`CPU gated-MLP epilogue through the vector exp (${seedNote(seed)})`, () => {
  it('matmul with silu(x0) * x1 matches the float64 reference (vector body and scalar tail)', async () => {
    const b = new CpuBackend();
    const op = getOp('matmul');
    const rng = new Rng(seed);
    const attrs = { transB: true, epilogue: 'silu(x0) * x1' };
    for (const [M, N, K] of [
      [1, 37, 64],
      [5, 19, 40],
    ] as const) {
      // logits spread wide (scale 8) so silu sees large negative and positive arguments
      const ins = [
        randomInput(rng, 'f32', [M, K], 8),
        randomInput(rng, 'f32', [N, K]),
        randomInput(rng, 'f32', [M, N]),
      ];
      const ts = ins.map((i) => {
        const t = b.alloc(i.desc);
        b.write(t, i.data);
        return t;
      });
      const y = b.alloc({ dtype: 'f32', shape: [M, N] });
      b.run('matmul', attrs, ts, [y]);
      const got = toFloat64('f32', await b.read(y));
      const want = op.reference(
        attrs,
        ins.map((i) => toFloat64('f32', i.data)),
        ins.map((i) => i.desc),
        [y],
      )[0]!;
      // against the float64 op reference, within the GEMM's f32 summation bound carried through
      // silu (slope ≤ 1.1) and the gate x1
      const [xs, ws, gs] = ins.map((t) => toFloat64('f32', t.data)) as [Float64Array, Float64Array, Float64Array];
      for (let m = 0; m < M; m++)
        for (let n = 0; n < N; n++) {
          let mag = 0;
          for (let k = 0; k < K; k++) mag += Math.abs(xs[m * K + k]! * ws[n * K + k]!);
          const e = m * N + n;
          const bound = 1.1 * Math.abs(gs[e]!) * (K + 1) * 2 ** -24 * mag + 8 * 2 ** -24 * Math.abs(want[e]!);
          expect(Math.abs(got[e]! - want[e]!), `M${M} N${N} [${m}, ${n}]`).toBeLessThanOrEqual(bound);
        }
      // the epilogue alone: silu(z)·x1 in float64 on this backend's own f32 GEMM output z, within a
      // few ulp (the exp's < 1 ulp, the add, divide and multiply half an ulp each)
      const z = b.alloc({ dtype: 'f32', shape: [M, N] });
      b.run('matmul', { transB: true }, ts.slice(0, 2), [z]);
      const zs = toFloat64('f32', await b.read(z));
      b.free(z);
      for (let e = 0; e < got.length; e++) {
        const exact = (zs[e]! / (1 + Math.exp(-zs[e]!))) * gs[e]!;
        expect(Math.abs(got[e]! - exact), `epilogue [${e}] of z = ${zs[e]}`).toBeLessThanOrEqual(
          8 * 2 ** -24 * Math.abs(exact) + 1e-30,
        );
      }
      for (const t of [...ts, y]) b.free(t);
    }
  });
});
