/**
 * Every registered op has a CPU kernel of its own: a new op whose CPU rows would silently fall back
 * to the float64 reference (and so run a model at reference speed, and skip its conformance rows)
 * fails here, naming the op. The one exception is a variant carrying user-written hooks (functions
 * in its attributes), which no kernel can name in advance.
 */
import { describe, expect, it } from 'vitest';
import { CpuBackend } from '../../src/backends/cpu/cpu-backend.js';
import { conformanceCases, runsTheOracle } from '../../src/testing/conformance.js';
import { seedNote, testSeed } from '../../src/testing/seed.js';

const seed = testSeed();
const hasHooks = (attrs: unknown): boolean =>
  typeof attrs === 'function' ||
  (typeof attrs === 'object' && attrs !== null && Object.values(attrs).some((v) => hasHooks(v)));

describe(`CPU kernels (${seedNote(seed)})`, () => {
  it('no conformance case of any registered op runs the float64 reference on the CPU backend', () => {
    const cpu = new CpuBackend();
    const served: string[] = [];
    let cases = 0;
    for (const { op, cases: list } of conformanceCases({ seed })) {
      for (const c of list) {
        cases++;
        if (runsTheOracle(cpu, op.name, c) !== null && !hasHooks(c.attrs)) served.push(`${op.name}: ${c.label}`);
      }
    }
    expect(cases).toBeGreaterThan(100);
    expect(served).toEqual([]);
  });
});
