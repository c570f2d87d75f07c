/**
 * The conformance cases of the row-wise kernels (and the fused GEMVs of `linear` and
 * `linear_group`, which reduce across lanes the same way) on a device that reports no subgroups, so
 * the workgroup-memory reduction fallback (used on GPUs without the `subgroups` feature) is tested
 * too; the main suite only sees the device as opened, which has subgroups on lavapipe and H100.
 */
import { describe, expect, it } from 'vitest';
import { openGpu } from '../../src/backends/webgpu/device.js';
import { WebGpuBackend } from '../../src/backends/webgpu/webgpu-backend.js';
import { conformanceCases, runCase } from '../../src/testing/conformance.js';
import { seedNote, testSeed } from '../../src/testing/seed.js';
import { HEAVY, heavyTitle } from '../heavy.js';

const OPS = ['reduce', 'softmax', 'rmsnorm', 'layernorm', 'argmax', 'sample', 'attention', 'linear', 'linear_group'];
const seed = testSeed();

async function open(f16: boolean): Promise<WebGpuBackend | null> {
  if (process.env.TESSERA_NO_GPU) return null; // no device, or one turned off on purpose (test/gpu-setup.ts)
  try {
    const ctx = await openGpu({ disableF16: !f16 });
    ctx.caps = { ...ctx.caps, subgroups: false };
    return new WebGpuBackend(ctx);
  } catch {
    return null;
  }
}

const backends = [await open(true), await open(false)];

describe.skipIf(!backends[0])(`row kernels without subgroups (${seedNote(seed)})`, () => {
  // every case compiles its own fallback pipelines (seconds to tens of seconds on lavapipe): CI runs
  // each op's first two cases with f16 and its first without, the heavy sweep every case on both
  const inCi = (caseIndex: number, backendIndex: number) => caseIndex < (backendIndex === 0 ? 2 : 1);
  for (const { op, cases } of conformanceCases({ seed, ops: OPS })) {
    for (const [k, c] of cases.entries()) {
      backends.forEach((b, i) => {
        const title = `${op.name} ${i === 0 ? 'f16' : 'nof16'}: ${c.label}`;
        it.skipIf(!inCi(k, i) && !HEAVY)(inCi(k, i) ? title : heavyTitle(title), async () => {
          const r = await runCase(b!, op, c);
          expect(r.skipped ?? '').toBe('');
          expect(r.message ?? 'ok').toBe('ok');
        });
      });
    }
  }
});
