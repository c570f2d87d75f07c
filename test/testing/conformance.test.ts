import { describe, expect, it } from 'vitest';
import { CpuBackend } from '../../src/backends/cpu/cpu-backend.js';
import { compare, conformanceCases, runCase, runsTheOracle } from '../../src/testing/conformance.js';
import { seedNote, testSeed } from '../../src/testing/seed.js';
import { gpuBackends, gpusOrSkip } from '../gpu-setup.js';

const seed = testSeed();
const cpu = new CpuBackend();
const gpus = await gpuBackends();

describe(`conformance (${seedNote(seed)})`, () => {
  for (const { op, cases } of conformanceCases({ seed })) {
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
            expect(r.skipped ?? '', 'every op must have a WebGPU kernel').toBe('');
            expect(r.message ?? 'ok').toBe('ok');
          });
        }
      }
    });
  }
});

describe('compare', () => {
  it('never passes NaN', () => {
    expect(compare(new Float64Array([NaN]), new Float64Array([1]), { abs: 1, rel: 1 })).toMatch(/NaN/);
  });
  it('names the worst element', () => {
    expect(compare(new Float64Array([1, 2, 5]), new Float64Array([1, 2, 3]), { abs: 0.1, rel: 0 })).toMatch(/\[2\]/);
  });
  it('exact mode rejects any difference', () => {
    expect(compare(new Float64Array([3]), new Float64Array([3.0000001]), 'exact')).not.toBeNull();
  });
});
