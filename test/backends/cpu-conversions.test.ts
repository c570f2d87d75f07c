/**
 * The CPU kernels' storage conversions (wasm/kernels.ts `convert`, the scalar and SIMD loads every
 * kernel uses) against the host's bit-exact ones in src/tensor/dtype.ts: every f16 pattern decodes
 * to its value (subnormals, infinities and NaN included), and f32 → f16/bf16 rounds to nearest even.
 */
import { describe, expect, it } from 'vitest';
import { bf16Bits, f16Bits, f16ToNumber } from '../../src/tensor/dtype.js';
import { getOp } from '../../src/ops/registry.js';
import { seedNote, testSeed } from '../../src/testing/seed.js';
import { Rng } from '../../src/util/rng.js';
import { CpuBackend } from '../../src/backends/cpu/cpu-backend.js';

const seed = testSeed();
const b = new CpuBackend();

async function cast(data: Uint16Array | Float32Array, from: 'f16' | 'bf16' | 'f32', to: 'f16' | 'bf16' | 'f32') {
  const x = b.alloc({ dtype: from, shape: [data.length] });
  const y = b.alloc({ dtype: to, shape: [data.length] });
  b.write(x, data);
  // an identity expression: the elementwise op loads through the kernels' converter and stores through it
  b.run('elementwise', { expr: 'x0', outDtype: to }, [x], [y]);
  const out = await b.read(y);
  b.free(x);
  b.free(y);
  return out;
}

describe(`CPU kernel conversions (${seedNote(seed)})`, () => {
  it('every f16 bit pattern decodes exactly', async () => {
    const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
    const got = (await cast(all, 'f16', 'f32')) as Float32Array;
    for (let h = 0; h < 65536; h++) {
      const want = f16ToNumber(h);
      if (Number.isNaN(want)) expect(Number.isNaN(got[h]!), `0x${h.toString(16)}`).toBe(true);
      else expect(got[h], `0x${h.toString(16)}`).toBe(want);
    }
  });

  it('f32 rounds to f16 and bf16 to nearest even, through subnormals and overflow', async () => {
    const rng = new Rng(seed);
    const xs = new Float32Array(20000);
    const u = new Uint32Array(xs.buffer);
    for (let i = 0; i < xs.length; i++) u[i] = rng.int(0, 0xffffffff) >>> 0;
    // values near f16's range and its subnormals, and exact ties
    for (let i = 0; i < 4000; i++) xs[i] = (rng.next() - 0.5) * 2 ** rng.int(-26, 17);
    xs.set([65504, 65519.99, 65520, -65520, 2 ** -24, 2 ** -25, 3 * 2 ** -26, 1 + 2 ** -11, 1 + 3 * 2 ** -11], 4000);
    const h = (await cast(xs, 'f32', 'f16')) as Uint16Array;
    const bb = (await cast(xs, 'f32', 'bf16')) as Uint16Array;
    for (let i = 0; i < xs.length; i++) {
      if (Number.isNaN(xs[i]!)) continue;
      expect(h[i], `f16 of ${xs[i]}`).toBe(f16Bits(xs[i]!));
      expect(bb[i], `bf16 of ${xs[i]}`).toBe(bf16Bits(xs[i]!));
    }
  });

  it('reports which ops it runs with its own kernels', () => {
    const mm = getOp('matmul');
    expect(b.servedByReference(mm.name, { transB: true }, [])).toBe(false);
    expect(b.servedByReference('sample', {}, [])).toBe(false);
    // user-written attention hooks are JavaScript functions: those variants run the op's reference
    const hook = { name: 'user', logits: { wgsl: 's', ref: (s: number) => s } };
    const descs = Array.from({ length: 7 }, () => ({ dtype: 'f32' as const, shape: [1] }));
    expect(b.servedByReference('paged_attention', { variant: { causal: true } }, descs)).toBe(false);
    expect(b.servedByReference('paged_attention', { variant: { extra: [hook] } }, descs)).toBe(true);
  });
});
