/**
 * `ivf_scan`'s CPU kernel (src/rag/cpu-kernel.ts), served by the CPU backend through its registry of
 * feature-op kernels, against the op's float64 reference: the conformance cases and one case large
 * enough to split across the CPU pool.
 */
import { describe, expect, it } from 'vitest';
import type { Attrs } from '../../src/backends/backend.js';
import { CpuBackend } from '../../src/backends/cpu/cpu-backend.js';
import { cpuRuntime } from '../../src/backends/cpu/cpu-runtime.js';
import type { OpCase } from '../../src/ops/op-spec.js';
import { randomInput } from '../../src/ops/test-data.js';
import { ivfScanCpuKernel } from '../../src/rag/cpu-kernel.js';
import { ivfScanOp } from '../../src/rag/ivf-scan.js';
import { compare } from '../../src/testing/conformance.js';
import { seedNote, testSeed } from '../../src/testing/seed.js';
import { toFloat64 } from '../../src/tensor/dtype.js';
import { Rng } from '../../src/util/rng.js';

const seed = testSeed();
const backend = new CpuBackend();

async function check(c: OpCase<Attrs>): Promise<string | null> {
  const inDescs = c.inputs.map((i) => i.desc);
  const [outDesc] = ivfScanOp.outputs(c.attrs, inDescs);
  const want = ivfScanOp.reference(
    c.attrs,
    c.inputs.map((i) => toFloat64(i.desc.dtype, i.data)),
    inDescs,
    [outDesc!],
  )[0]!;
  const ins = c.inputs.map((i) => {
    const t = backend.alloc(i.desc);
    backend.write(t, i.data);
    return t;
  });
  const out = backend.alloc(outDesc!);
  backend.write(out, new Float32Array(want.length).fill(NaN));
  try {
    expect(ivfScanCpuKernel.supports!(c.attrs, inDescs)).toBe(true);
    expect(backend.servedByReference('ivf_scan', c.attrs, inDescs)).toBe(false);
    backend.run('ivf_scan', c.attrs, ins, [out]);
    const got = toFloat64('f32', await backend.read(out));
    const tol = ivfScanOp.tolerance;
    return compare(got, Float64Array.from(want), typeof tol === 'function' ? tol(c.attrs, inDescs) : tol!);
  } finally {
    [...ins, out].forEach((t) => backend.free(t));
  }
}

describe(`ivf_scan CPU kernel (${seedNote(seed)})`, () => {
  const rng = new Rng(seed);
  for (const c of ivfScanOp.cases(rng, { big: false })) {
    it(c.label, async () => expect(await check(c)).toBeNull());
  }

  it('nq64 m300 d100 f32 and f16, split across the pool', async () => {
    const stats = cpuRuntime().pool.stats;
    for (const dt of ['f32', 'f16'] as const) {
      const c = {
        label: dt,
        attrs: {},
        inputs: [randomInput(rng, 'f32', [64, 100]), randomInput(rng, dt, [300, 100])],
      };
      expect(await check(c)).toBeNull();
    }
    console.log(`ivf_scan CPU kernel: ${cpuRuntime().pool.threads} pool thread(s), ${stats.split} split run(s)`);
  });

  it('refuses odd d with f16 vectors, as the op does', () => {
    expect(
      ivfScanCpuKernel.supports!({}, [
        { dtype: 'f32', shape: [1, 3] },
        { dtype: 'f16', shape: [2, 3] },
      ]),
    ).toBe(false);
  });
});
