import { describe, expect, it } from 'vitest';
import type { TensorDesc } from '../../src/backends/backend.js';
import { denseAttentionBlock } from '../../src/attention/dense-attention.js';
import { attentionOp } from '../../src/ops/attention.js';
import { toFloat64, toHost } from '../../src/tensor/dtype.js';
import { Rng } from '../../src/util/rng.js';
import { gpuBackends, gpusOrSkip } from '../gpu-setup.js';

const gpus = await gpuBackends();
const t = (shape: number[], dtype: TensorDesc['dtype'] = 'f32'): TensorDesc => ({ dtype, shape });

describe('attention input errors', () => {
  it('rejects query heads that are not a multiple of KV heads', () => {
    expect(() => attentionOp.outputs({ causal: false }, [t([2, 6, 8]), t([3, 4, 8]), t([3, 4, 8])])).toThrow(
      /query heads \(6\) must be a multiple of KV heads \(4\)/,
    );
  });
  it('rejects mismatched head dims and k/v shapes', () => {
    expect(() => attentionOp.outputs({ causal: false }, [t([2, 4, 8]), t([3, 2, 16]), t([3, 2, 16])])).toThrow(
      /head dims differ/,
    );
    expect(() => attentionOp.outputs({ causal: false }, [t([2, 4, 8]), t([3, 2, 8]), t([5, 2, 8])])).toThrow(
      /v has shape \[5, 2, 8\]/,
    );
    expect(() => attentionOp.outputs({ causal: false }, [t([2, 4, 8], 'i32'), t([3, 2, 8]), t([3, 2, 8])])).toThrow(
      /q must be a float/,
    );
  });
  it('tiles keep the four B×D tiles within 16 KiB', () => {
    for (const D of [1, 7, 64, 128, 256, 512]) expect(denseAttentionBlock(D) * D * 16).toBeLessThanOrEqual(16384);
    expect(denseAttentionBlock(64)).toBe(16);
  });
});

describe('attention over many key tiles', () => {
  for (const { name, backend } of gpusOrSkip(gpus)) {
    it(`${name}: decode row over 700 keys and a causal prefill whose blocks end mid-tile`, async () => {
      const rng = new Rng(3);
      for (const [T, S, causal] of [
        [1, 700, true],
        [37, 53, true],
      ] as const) {
        const [Hq, Hk, D] = [4, 2, 32];
        const q = rng.normals(T * Hq * D);
        const k = rng.normals(S * Hk * D, 2);
        const v = rng.normals(S * Hk * D);
        const descs = [t([T, Hq, D]), t([S, Hk, D]), t([S, Hk, D])];
        const ins = descs.map((d, i) => {
          const x = backend.alloc(d);
          backend.write(x, toHost('f32', [q, k, v][i]!));
          return x;
        });
        const o = backend.alloc(t([T, Hq, D]));
        backend.run('attention', { causal }, ins, [o]);
        const got = toFloat64('f32', await backend.read(o));
        const want = attentionOp.reference(
          { causal },
          [q, k, v].map((a) => Float64Array.from(Float32Array.from(a))),
          descs,
          [],
        )[0]!;
        let worst = 0;
        for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
        for (const x of [...ins, o]) backend.free(x);
        expect(worst).toBeLessThan(3e-5);
      }
    });
  }
});
