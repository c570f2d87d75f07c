/**
 * The softmax's exp2 as an FMA polynomial (EXP2_FMA_WGSL, the polyExp knob of the tensor-core
 * prefill), against Math.pow on the GPU: relative error below 1e-4 wherever the kernel uses it
 * (x from -60 to the lazy-rescale threshold and beyond), and a negligible value below -60. The
 * attention oracle alone would not catch a slightly wrong coefficient: the normalised output
 * absorbs percent-level errors in half the probabilities.
 */
import { describe, expect, it } from 'vitest';
import { EXP2_FMA_WGSL } from '../../src/attention/attention-sgmat.js';
import { Rng } from '../../src/util/rng.js';
import { seedNote, testSeed } from '../../src/testing/seed.js';
import { gpuBackend } from '../gpu-setup.js';

const be = await gpuBackend();
const seed = testSeed();
const N = 1 << 14;

const PROGRAM = `${EXP2_FMA_WGSL}
@group(0) @binding(0) var<storage, read_write> xs: array<f32>;
@group(0) @binding(1) var<storage, read_write> ys: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  ys[g.x] = exp2_fma(xs[g.x]);
}`;

describe.skipIf(!be)(`exp2 as an FMA polynomial (${seedNote(seed)})`, () => {
  it(`${N} points in [-70, 20): relative error < 1e-4 from -60 up, at most 2^-60 below`, async () => {
    const rng = new Rng(seed);
    // integers and their neighbours (the polynomial's ends), then random points
    const edges = [-60, -59.5, -1, -1e-7, 0, 1e-7, 0.5, 1 - 2 ** -20, 1, 7.99, 8, 15];
    const x = Float32Array.from({ length: N }, (_, i) => (i < edges.length ? edges[i]! : -70 + 90 * rng.next()));
    const xt = be!.alloc({ dtype: 'f32', shape: [N] });
    const yt = be!.alloc({ dtype: 'f32', shape: [N] });
    be!.write(xt, x);
    be!.write(yt, new Float32Array(N).fill(Number.NaN));
    be!.runProgram({ wgsl: PROGRAM, entryPoint: 'main', workgroups: [N / 64, 1, 1] }, [xt, yt], new Uint32Array(4));
    await be!.flush();
    const y = (await be!.read(yt)) as Float32Array;
    be!.free(xt);
    be!.free(yt);
    let worst = 0;
    let worstAt = 0;
    for (let i = 0; i < N; i++) {
      const xi = x[i]!;
      if (xi < -60) {
        expect(y[i], `x ${xi}`).toBeGreaterThanOrEqual(0);
        expect(y[i], `x ${xi}`).toBeLessThanOrEqual(2 ** -60 * 1.0001);
        continue;
      }
      const rel = Math.abs(y[i]! / 2 ** xi - 1);
      if (!(rel <= worst)) {
        worst = rel;
        worstAt = xi;
      }
    }
    expect(worst, `worst relative error at x = ${worstAt}`).toBeLessThan(1e-4);
  });
});
