/**
 * The one-row-per-thread attention kernel for small f32 heads (D ≤ 32) against the float64
 * reference of the `attention` op: query and key counts that fill neither a workgroup of rows nor a
 * key tile nor a softmax chunk, several key tiles, causal with T < S, T = S and T > S (rows that
 * see no key), grouped heads, and scores large enough that the running max moves.
 */
import { describe, expect, it } from 'vitest';
import type { TensorDesc } from '../../src/backends/backend.js';
import { denseRowsApplies } from '../../src/attention/dense-attention-rows.js';
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

describe(`attention with small heads against float64 (${seedNote(seed)})`, () => {
  for (const { name, backend } of gpusOrSkip(gpus)) {
    it(`${name}: odd lengths, several key tiles, causal with T <, =, > S, grouped heads`, async () => {
      const rng = new Rng(seed);
      for (const c of CASES) {
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
        backend.run('attention', { causal }, ins, [o]);
        const got = toFloat64('f32', await backend.read(o));
        const want = attentionOp.reference({ causal }, data, descs, [])[0]!;
        for (const x of [...ins, o]) backend.free(x);
        let worst = 0;
        for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
        expect(worst, JSON.stringify(c)).toBeLessThan(3e-5);
      }
    });
  }
});
