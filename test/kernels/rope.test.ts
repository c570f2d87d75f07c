import { describe, expect, it } from 'vitest';
import { CpuBackend } from '../../src/backends/cpu/cpu-backend.js';
import { ropeInvFreqs, ropeOp } from '../../src/ops/rope.js';
import type { TensorDesc } from '../../src/backends/backend.js';
import { Rng } from '../../src/util/rng.js';
import { gpuBackends, gpusOrSkip } from '../gpu-setup.js';

const gpus = await gpuBackends();
const x = (D: number): TensorDesc => ({ dtype: 'f32', shape: [3, 2, D] });
const pos: TensorDesc = { dtype: 'i32', shape: [3] };

describe('rope input errors', () => {
  it('rejects an odd head dim without rotaryDim, naming the fix', () => {
    expect(() => ropeOp.outputs({ theta: 1e4 }, [x(7), pos])).toThrow(/head dim 7 is odd.*rotaryDim/);
  });
  it('rejects odd or too large rotaryDim, and accepts an even one with odd D', () => {
    expect(() => ropeOp.outputs({ theta: 1e4, rotaryDim: 3 }, [x(8), pos])).toThrow(
      /rotaryDim must be an even integer in \[2, 8\]/,
    );
    expect(() => ropeOp.outputs({ theta: 1e4, rotaryDim: 10 }, [x(8), pos])).toThrow(/rotaryDim/);
    expect(ropeOp.outputs({ theta: 1e4, rotaryDim: 4 }, [x(7), pos])[0]!.shape).toEqual([3, 2, 7]);
  });
  it('rejects positions of the wrong length or type, and bad scaling', () => {
    expect(() => ropeOp.outputs({ theta: 1e4 }, [x(8), { dtype: 'i32', shape: [2] }])).toThrow(
      /positions must be i32 \[3\]/,
    );
    expect(() => ropeOp.outputs({ theta: 1e4 }, [x(8), { dtype: 'f32', shape: [3] }])).toThrow(/positions/);
    const scaling = { factor: 8, lowFreqFactor: 4, highFreqFactor: 1, originalMaxPositions: 8192 };
    expect(() => ropeOp.outputs({ theta: 1e4, scaling }, [x(8), pos])).toThrow(/highFreqFactor > lowFreqFactor/);
  });
  it('the CPU reference rejects negative positions', () => {
    const b = new CpuBackend();
    const [t, p, y] = [b.alloc(x(4)), b.alloc(pos), b.alloc(x(4))];
    b.write(p, Int32Array.from([0, -5, 2]));
    expect(() => b.run('rope', { theta: 1e4 }, [t, p], [y])).toThrow(/position -5 at token 1/);
  });
});

describe('Llama-3 frequency scaling (HF _compute_llama3_parameters)', () => {
  // Llama 3.1 8B: θ 500000, head dim 128, factor 8, low 1, high 4, 8192 original positions
  const s = { factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 8192 };
  const base = ropeInvFreqs(500000, 128);
  const scaled = ropeInvFreqs(500000, 128, s);
  it('keeps wavelengths under 8192/4, divides those over 8192 by the factor', () => {
    for (let i = 0; i < 64; i++) {
      const wavelen = (2 * Math.PI) / base[i]!;
      if (wavelen < 2048) expect(scaled[i]).toBe(base[i]);
      if (wavelen > 8192) expect(scaled[i]).toBeCloseTo(base[i]! / 8, 15);
    }
    expect(scaled[0]).toBe(1);
    expect(scaled[63]).toBeCloseTo(base[63]! / 8, 15);
  });
  it('blends smoothly in between: monotone, between inv/8 and inv', () => {
    let medium = 0;
    for (let i = 0; i < 64; i++) {
      const wavelen = (2 * Math.PI) / base[i]!;
      if (wavelen >= 2048 && wavelen <= 8192) {
        medium++;
        expect(scaled[i]!).toBeLessThanOrEqual(base[i]!);
        expect(scaled[i]!).toBeGreaterThanOrEqual(base[i]! / 8);
        // smooth = 8192/wavelen − 1 over 3: the blend weight HF uses
        const smooth = (8192 / wavelen - 1) / 3;
        expect(scaled[i]).toBeCloseTo(((1 - smooth) * base[i]!) / 8 + smooth * base[i]!, 15);
      }
      if (i > 0) expect(scaled[i]!).toBeLessThan(scaled[i - 1]!);
    }
    expect(medium).toBeGreaterThan(0);
  });
});

describe('rope angles at large positions', () => {
  for (const { name, backend } of gpusOrSkip(gpus)) {
    it(`${name}: f32 error stays ~1e-6 at positions up to 2^20 (a plain f32 pos·invfreq is off by ~0.03)`, async () => {
      const rng = new Rng(7);
      const [T, H, D] = [64, 1, 64];
      const xs = Float32Array.from(rng.normals(T * H * D));
      const ps = Int32Array.from({ length: T }, () => rng.int(1 << 16, 1 << 20));
      const attrs = { theta: 10000 };
      const [xt, pt, yt] = [
        backend.alloc({ dtype: 'f32', shape: [T, H, D] }),
        backend.alloc({ dtype: 'i32', shape: [T] }),
        backend.alloc({ dtype: 'f32', shape: [T, H, D] }),
      ];
      backend.write(xt, xs);
      backend.write(pt, ps);
      backend.run('rope', attrs, [xt, pt], [yt]);
      const got = (await backend.read(yt)) as Float32Array;
      const want = ropeOp.reference(
        attrs,
        [Float64Array.from(xs), Float64Array.from(ps)],
        [
          { dtype: 'f32', shape: [T, H, D] },
          { dtype: 'i32', shape: [T] },
        ],
        [],
      )[0]!;
      let worst = 0;
      for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
      for (const t of [xt, pt, yt]) backend.free(t);
      expect(worst).toBeLessThan(2e-5);
    });
  }
});
