/**
 * The conformance suite body every area's `conformance.test.ts` shares: for each op's cases, a CPU
 * row (skipped, with the reason in its title, where the CPU backend runs the float64 oracle itself)
 * and a row per WebGPU backend (or one visibly skipped row where there is none). The seed is in the
 * suite's title, so a failure can be replayed.
 */
import { describe, expect, it } from 'vitest';
import { CpuBackend } from '../src/backends/cpu/cpu-backend.js';
import { conformanceCases, runCase, runsTheOracle } from '../src/testing/conformance.js';
import { seedNote, testSeed } from '../src/testing/seed.js';
import { gpuBackends, gpusOrSkip } from './gpu-setup.js';

export interface ConformanceSuiteOptions {
  /** Only these ops (by name); every registered op when left out. */
  readonly ops?: readonly string[];
  /** How many of the opened WebGPU backends to run on; all when left out. */
  readonly gpuCount?: number;
  /** The assertion message where a WebGPU backend skips a case for want of a kernel. */
  readonly missingKernel?: string;
}

/** Declares `<title> (<seed>)` › op › case rows; await it at the top level of a test file. */
export async function describeConformance(title: string, opts: ConformanceSuiteOptions = {}): Promise<void> {
  const seed = testSeed();
  const cpu = new CpuBackend();
  const gpus = (await gpuBackends()).slice(0, opts.gpuCount);
  describe(`${title} (${seedNote(seed)})`, () => {
    for (const { op, cases } of conformanceCases({ seed, ops: opts.ops })) {
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
              expect(r.skipped ?? '', opts.missingKernel).toBe('');
              expect(r.message ?? 'ok').toBe('ok');
            });
          }
        }
      });
    }
  });
}
