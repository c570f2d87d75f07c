/**
 * The one-row-per-thread attention kernel for small f32 heads (D ≤ 32) against the float64
 * reference of the `attention` op: query and key counts that fill neither a workgroup of rows nor a
 * key tile nor a softmax chunk, several key tiles, causal with T < S, T = S and T > S (rows that
 * see no key), grouped heads, and scores large enough that the running max moves.
 */
import { describe, expect, it } from 'vitest';
import type { TensorDesc } from '../../src/backends/backend.js';
import { denseRowsApplies, denseRowsPerThread } from '../../src/attention/dense-attention-rows.js';
import { attentionOp } from '../../src/ops/attention.js';
import { toFloat64, toHost } from '../../src/tensor/dtype.js';
import { seedNote, testSeed } from '../../src/testing/seed.js';
import { Rng } from '../../src/util/rng.js';
import { gpuBackends, gpusOrSkip } from '../gpu-setup.js';

const gpus = await gpuBackends();
const seed = testSeed();
const t = (shape: number[], dtype: TensorDesc['dtype'] = 'f32'): TensorDesc => ({ dtype, shape });

interface Case {
  readonly T: number;
  readonly S: number;
  readonly Hq: number;
  readonly Hk: number;
  readonly D: number;
  readonly causal: boolean;
}
const CASES: Case[] = [
  { T: 1, S: 1, Hq: 1, Hk: 1, D: 16, causal: false },
  { T: 67, S: 131, Hq: 4, Hk: 4, D: 16, causal: false },
  { T: 130, S: 61, Hq: 2, Hk: 1, D: 16, causal: false },
  { T: 45, S: 45, Hq: 4, Hk: 2, D: 8, causal: true },
  { T: 29, S: 200, Hq: 3, Hk: 3, D: 32, causal: true },
  { T: 90, S: 37, Hq: 2, Hk: 2, D: 4, causal: true },
  { T: 200, S: 129, Hq: 1, Hk: 1, D: 12, causal: false },
];

describe('which attentions take the small-head kernel', () => {
  it('f32 heads of D ≤ 32 in multiples of 4; others keep the general kernel', () => {
    const all = (D: number, dtype: TensorDesc['dtype'] = 'f32') => [t([3, 1, D], dtype), t([3, 1, D], dtype)];
    expect(denseRowsApplies(16, all(16))).toBe(true);
    expect(denseRowsApplies(32, all(32))).toBe(true);
    expect(denseRowsApplies(36, all(36))).toBe(false);
    expect(denseRowsApplies(6, all(6))).toBe(false);
    expect(denseRowsApplies(16, all(16, 'f16'))).toBe(false);
  });
});

describe('rows a thread of the small-head kernel', () => {
  it('as many as 64 floats of Q allow, fewer while the grid would leave a large GPU idle', () => {
    // the de-raining filter at 1024²: 65536 query rows, 4 heads of 16
    expect(denseRowsPerThread(16, 65536, 4)).toBe(4);
    expect(denseRowsPerThread(32, 65536, 4)).toBe(2);
    // 512 workgroups at one row a thread, 256 at two: keep one
    expect(denseRowsPerThread(16, 8192, 4)).toBe(1);
    expect(denseRowsPerThread(16, 200, 1)).toBe(1);
  });
});

describe(`attention with small heads against float64 (${seedNote(seed)})`, () => {
  for (const [b, { name, backend }] of gpusOrSkip(gpus).entries())
    for (const rowsPerThread of b === 0 ? ([undefined, 2, 4] as const) : [undefined])
      it(`${name}, ${rowsPerThread ?? 'default'} row(s) a thread: odd lengths, several key tiles, causal with T <, =, > S, grouped heads`, async () => {
        const rng = new Rng(seed);
        // A forced R runs two cases (one plain, one causal with grouped heads) on the first backend:
        // each R is its own unrolled shader, and lavapipe's LLVM takes tens of seconds per shader.
        for (const c of rowsPerThread ? [CASES[1]!, CASES[3]!] : CASES) {
          const { T, S, Hq, Hk, D, causal } = c;
          // keys scaled by 3: scores spread over several units, so chunks raise the running max
          const data = [rng.normals(T * Hq * D), rng.normals(S * Hk * D, 3), rng.normals(S * Hk * D)].map((a) =>
            Float64Array.from(Float32Array.from(a)),
          );
          const descs = [t([T, Hq, D]), t([S, Hk, D]), t([S, Hk, D])];
          const ins = descs.map((d, i) => {
            const x = backend.alloc(d);
            backend.write(x, toHost('f32', data[i]!));
            return x;
          });
          const o = backend.alloc(t([T, Hq, D]));
          backend.run('attention', { causal, ...(rowsPerThread ? { rowsPerThread } : {}) }, ins, [o]);
          const got = toFloat64('f32', await backend.read(o));
          const want = attentionOp.reference({ causal }, data, descs, [])[0]!;
          for (const x of [...ins, o]) backend.free(x);
          let worst = 0;
          for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
          expect(worst, JSON.stringify(c)).toBeLessThan(3e-5);
        }
        // each R is its own unrolled shader: lavapipe's LLVM takes tens of seconds to compile them
      }, 180_000);
});
