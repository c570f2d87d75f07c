import { describe, expect, it } from 'vitest';
import { RNG_WGSL } from '../../src/kernels/wgsl-rng.js';
import { pcgHash, uniformAt, Rng } from '../../src/util/rng.js';
import { gpuBackends, gpusOrSkip } from '../gpu-setup.js';

const gpus = await gpuBackends();
const N = 1 << 14;

// inputs the hash finds hard: zero, all-ones, sign bits, shift-amount edges, plus random words
function inputs(): Uint32Array {
  const rng = new Rng(12345);
  const edge = [0, 1, 2, 0x7fffffff, 0x80000000, 0xffffffff, 0xfffffffe, 0x10000000, 0xefffffff, 747796405, 2891336453];
  const v = new Uint32Array(3 * N);
  for (let i = 0; i < v.length; i++) v[i] = i < edge.length * 3 ? edge[i % edge.length]! : (rng.next() * 2 ** 32) >>> 0;
  return v;
}

const PROGRAM = `${RNG_WGSL}
@group(0) @binding(0) var<storage, read_write> args: array<u32>;
@group(0) @binding(1) var<storage, read_write> hash: array<u32>;
@group(0) @binding(2) var<storage, read_write> uni: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  let i = g.x;
  hash[i] = tess_pcg_hash(args[3u * i]);
  uni[i] = tess_uniform_at(args[3u * i], args[3u * i + 1u], args[3u * i + 2u]);
}`;

describe('WGSL RNG matches util/rng.ts bit for bit', () => {
  it('uniformAt is in [0, 1) with 24-bit resolution', () => {
    for (let c = 0; c < 1000; c++) {
      const u = uniformAt(c * 7919, c, c * 31);
      expect(u >= 0 && u < 1).toBe(true);
      expect(u * 16777216).toBe(Math.floor(u * 16777216));
    }
  });
  for (const { name, backend } of gpusOrSkip(gpus)) {
    it(`${name}: pcgHash and uniformAt on ${N} inputs`, async () => {
      const args = inputs();
      const a = backend.alloc({ dtype: 'u32', shape: [3 * N] });
      const h = backend.alloc({ dtype: 'u32', shape: [N] });
      const u = backend.alloc({ dtype: 'f32', shape: [N] });
      backend.write(a, args);
      backend.runProgram(
        { wgsl: PROGRAM, entryPoint: 'main', workgroups: [N / 64, 1, 1] },
        [a, h, u],
        new Uint32Array(4),
      );
      await backend.flush();
      const gotH = (await backend.read(h)) as Uint32Array;
      const gotU = (await backend.read(u)) as Float32Array;
      for (const t of [a, h, u]) backend.free(t);
      let bad = 0;
      for (let i = 0; i < N; i++) {
        if (
          gotH[i] !== pcgHash(args[3 * i]!) ||
          gotU[i] !== uniformAt(args[3 * i]!, args[3 * i + 1]!, args[3 * i + 2]!)
        )
          bad++;
      }
      expect(bad).toBe(0);
    });
  }
});
