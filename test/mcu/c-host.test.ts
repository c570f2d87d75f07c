import { describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateCProject, writeCProject } from '../../src/mcu/codegen/c-project.js';
import { tracePlan } from '../../src/mcu/exec/trace-pool.js';
import { singleLayer, tinyTestNet, type SingleLayerSpec } from '../../src/mcu/models/zoo.js';
import { planTensorLevel } from '../../src/mcu/plan/tensor-level-planner.js';
import { planVmcu } from '../../src/mcu/plan/vmcu-planner.js';
import { buildCProject, runCProject, toolAvailability } from '../../src/mcu/toolchain/c-toolchain.js';
import { expectCRunBitExact } from './c-expectations.js';
import { inputFor } from './helpers.js';

const hasGcc = toolAvailability().hostCc;
if (!hasGcc) console.warn('skipping MCU host C tests: no gcc on PATH (install gcc)');

const LAYERS: SingleLayerSpec[] = [
  { kind: 'pointwise', h: 5, w: 7, cin: 6, cout: 9 },
  { kind: 'depthwise', h: 9, w: 11, c: 5, k: 5, stride: 2 },
  { kind: 'depthwise', h: 10, w: 8, c: 3, k: 7, stride: 1 },
  { kind: 'bottleneck', h: 9, w: 10, cin: 4, cout: 6, expand: 3, k: 5, stride: 2 },
  { kind: 'bottleneck', h: 8, w: 9, cin: 6, cout: 6, expand: 4, k: 7, stride: 1 },
];

describe.skipIf(!hasGcc)('generated C on the host (gcc)', () => {
  it('runs the tiny network bit-exact under both plans, step by step', () => {
    const g = tinyTestNet();
    for (const plan of [planVmcu(g), planTensorLevel(g)]) expectCRunBitExact(g, plan, inputFor(g), 'host');
  });

  it.each(LAYERS.map((l) => [l] as const))('runs a single layer bit-exact: %o', (spec) => {
    const g = singleLayer(spec, 23);
    expectCRunBitExact(g, planVmcu(g), inputFor(g, 9), 'host');
  });

  it('makes exactly the pool accesses of the checked TypeScript schedule', () => {
    // The checker proves the TypeScript kernels' access sequence safe; this proves C makes the same one.
    const g = tinyTestNet();
    const plan = planVmcu(g);
    const dir = mkdtempSync(join(tmpdir(), 'tessera-mcu-trace-'));
    writeCProject(dir, generateCProject(plan, inputFor(g)));
    buildCProject(dir, 'host', ['TQ_TRACE']);
    const lines = runCProject(dir, 'host')
      .stdout.split('\n')
      .filter((l) => /^[RWA] /.test(l));
    const expected = tracePlan(plan);
    expect(lines.length).toBe(expected.length);
    expect(lines.findIndex((l, i) => l !== expected[i])).toBe(-1);
  });
});
