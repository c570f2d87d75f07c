/**
 * The RAG op's conformance cases (the ones `test/testing` runs for every registered op), here
 * so `npx vitest run test/rag` covers them on the device as opened. A CPU row skips where the CPU
 * backend serves the op with its float64 reference (the oracle itself).
 */
import { describe, expect, it } from 'vitest';
import { CpuBackend } from '../../src/backends/cpu/cpu-backend.js';
import { conformanceCases, runCase, runsTheOracle } from '../../src/testing/conformance.js';
import { seedNote, testSeed } from '../../src/testing/seed.js';
import { gpuBackends, gpusOrSkip } from '../gpu-setup.js';

const seed = testSeed();
const cpu = new CpuBackend();
const gpus = (await gpuBackends()).slice(0, 1);
const OPS = ['ivf_scan'];

describe(`rag conformance (${seedNote(seed)})`, () => {
  for (const { op, cases } of conformanceCases({ seed, ops: OPS })) {
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
