/** What a generated C program must print for a plan: computed in TypeScript, checked against the reference. */
import { expect } from 'vitest';
import { generateCProject, writeCProject, type McuTarget } from '../../src/mcu/codegen/c-project.js';
import { runPlan } from '../../src/mcu/exec/data-pool.js';
import type { McuGraph } from '../../src/mcu/graph/types.js';
import type { MemoryPlan } from '../../src/mcu/plan/plan-types.js';
import { runReference } from '../../src/mcu/reference/interpreter.js';
import { buildCProject, fnv1a, parseRunOutput, runCProject } from '../../src/mcu/toolchain/c-toolchain.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Builds and runs `plan` on `target` and asserts every step hash and the output are bit-exact. */
export function expectCRunBitExact(graph: McuGraph, plan: MemoryPlan, input: Int8Array, target: McuTarget): string {
  const reference = runReference(graph, input);
  const stepHashes: string[] = [];
  runPlan(plan, input, (step, out) => {
    // Graph tensors come from the reference itself; unfused intermediates from the TS pool run.
    const ref = reference[step.output.tensor];
    stepHashes.push(fnv1a(ref ?? out));
  });
  const dir = mkdtempSync(join(tmpdir(), `tessera-mcu-${target}-`));
  writeCProject(dir, generateCProject(plan, input, target));
  buildCProject(dir, target);
  const r = runCProject(dir, target);
  const parsed = parseRunOutput(r.stdout);
  expect(r.exitCode, r.stdout.slice(-400)).toBe(0);
  expect(parsed.done).toBe(true);
  expect(parsed.steps.map((s) => `${s.name} ${s.hash}`)).toEqual(
    plan.steps.map((s, i) => `${s.name} ${stepHashes[i]}`),
  );
  expect(parsed.output).toEqual(Array.from(reference[graph.output]!));
  return dir;
}
