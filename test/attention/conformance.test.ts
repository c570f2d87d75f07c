/**
 * The attention ops' conformance cases (the same ones `test/testing` runs for every op), here so
 * `npx vitest run test/attention` covers them on the device as opened. (The f32-path WGSL does not
 * depend on caps.f16 — see kernels.test.ts — so the f16-disabled twin would compile the same
 * shaders again; `test/testing` runs it.) CPU rows skip only where that backend runs the oracle itself.
 */
import { describe, expect, it } from 'vitest';
import { CpuBackend } from '../../src/backends/cpu/cpu-backend.js';
import { conformanceCases, runCase, runsTheOracle } from '../../src/testing/conformance.js';
import { seedNote, testSeed } from '../../src/testing/seed.js';
import { gpuBackends, gpusOrSkip } from '../gpu-setup.js';

const seed = testSeed();
const cpu = new CpuBackend();
const gpus = (await gpuBackends()).slice(0, 1);

describe(`attention conformance (${seedNote(seed)})`, () => {
  for (const { op, cases } of conformanceCases({
    seed,
    ops: ['paged_attention', 'append_kv', 'merge_states', 'qkv_append'],
  })) {
    describe(op.name, () => {
      for (const c of cases) {
        const cpuSkip = runsTheOracle(cpu, op.name, c);
        it.skipIf(cpuSkip !== null)(`cpu: ${c.label}${cpuSkip ? ` (skipped: ${cpuSkip})` : ''}`, async () => {
          const r = await runCase(cpu, op, c);
          expect(r.message ?? 'ok').toBe('ok');
        });
        for (const { name, backend } of gpusOrSkip(gpus, `webgpu: ${c.label}`)) {
          it(`${name}: ${c.label}`, async () => {
            const r = await runCase(backend, op, c);
            expect(r.skipped ?? '').toBe('');
            expect(r.message ?? 'ok').toBe('ok');
          });
        }
      }
    });
  }
});
