/**
 * What `tessera mcu plan` and `tessera mcu build` do, as plain functions returning text (the
 * commander glue lives in src/cli/mcu.ts; tests call these directly).
 */
import { resolve } from 'node:path';
import { checkPlan } from '../check/shadow-checker.js';
import { generateCProject, writeCProject, type McuTarget } from '../codegen/c-project.js';
import { SeededRandom } from '../graph/seeded-random.js';
import { modelByName } from '../models/zoo.js';
import { SramBudgetError, enforceBudget } from '../plan/sram-budget-error.js';
import type { MemoryPlan } from '../plan/plan-types.js';
import { planTensorLevel } from '../plan/tensor-level-planner.js';
import { planVmcu } from '../plan/vmcu-planner.js';
import { runReference } from '../reference/interpreter.js';
import { buildCProject, parseRunOutput, runCProject, toolAvailability } from '../toolchain/c-toolchain.js';
import { bytesText, layerTable, percentText } from './format.js';
import { parseBytes } from './parse-bytes.js';
import { comparePlanners, perLayerRows } from './planner-comparison.js';

export interface CommandResult {
  text: string;
  /** False when the command should exit non-zero (does not fit, run mismatch). */
  ok: boolean;
}

function budgetLine(plan: MemoryPlan, budget: number): { line: string; fits: boolean } {
  try {
    enforceBudget(plan, budget);
    return { line: `  ${plan.planner}: fits, ${bytesText(budget - plan.peakBytes)} bytes to spare`, fits: true };
  } catch (e) {
    if (e instanceof SramBudgetError) return { line: `  ${e.message}`, fits: false };
    throw e;
  }
}

/** `tessera mcu plan <model> [--sram N] [--check]`: per-layer RAM of both planners. */
export function planCommand(model: string, options: { sram?: string; check?: boolean }): CommandResult {
  const graph = modelByName(model);
  const cmp = comparePlanners(graph);
  const { tensorLevel, vmcu } = cmp.plans;
  const lines = [
    `${graph.name}: ${graph.layers.length} layers, peak SRAM per layer (bytes)`,
    '',
    layerTable(perLayerRows(graph, cmp)),
    `whole network: tensor-level (TFLM-style) ${bytesText(tensorLevel.peakBytes)} B arena; ` +
      `vMCU ${bytesText(vmcu.peakBytes)} B (pool ${bytesText(vmcu.poolBytes)} + kernel buffers ${bytesText(vmcu.localBytes)}); ` +
      `${percentText(cmp.reduction)}`,
  ];
  let ok = true;
  if (options.sram !== undefined) {
    const budget = parseBytes(options.sram);
    lines.push(`SRAM budget ${bytesText(budget)} B:`);
    for (const plan of [tensorLevel, vmcu]) {
      const r = budgetLine(plan, budget);
      lines.push(r.line);
      if (plan === vmcu) ok = r.fits;
    }
  }
  if (options.check) {
    for (const plan of [tensorLevel, vmcu]) {
      const r = checkPlan(plan);
      lines.push(
        `checker, ${plan.planner}: ${r.ok ? 'safe' : `UNSAFE (${r.violationCount} violations)`} — ` +
          `${bytesText(r.readsChecked)} byte reads and ${bytesText(r.writesChecked)} byte writes simulated`,
      );
      ok &&= r.ok;
    }
  }
  return { text: lines.join('\n'), ok };
}

export interface BuildOptions {
  target?: string;
  out?: string;
  planner?: string;
  sram?: string;
  seed?: string;
  run?: boolean;
}

/** `tessera mcu build <model> --target m4|m7|host`: emits the C project (and optionally runs it). */
export function buildCommand(model: string, options: BuildOptions): CommandResult {
  const target = (options.target ?? 'm4') as McuTarget;
  if (!['m4', 'm7', 'host'].includes(target)) throw new Error(`--target must be m4, m7 or host, got '${target}'`);
  const plannerName = options.planner ?? 'vmcu';
  if (plannerName !== 'vmcu' && plannerName !== 'tensor-level')
    throw new Error(`--planner must be vmcu or tensor-level, got '${plannerName}'`);
  const graph = modelByName(model);
  const budget = options.sram !== undefined ? { sramBytes: parseBytes(options.sram) } : {};
  const plan = plannerName === 'vmcu' ? planVmcu(graph, budget) : planTensorLevel(graph, budget);
  const s = graph.tensors[graph.input]!.shape;
  const input = new SeededRandom(Number(options.seed ?? 5)).int8Array(s.h * s.w * s.c);
  const dir = resolve(options.out ?? `mcu-${model}-${target}`);
  const files = generateCProject(plan, input, target);
  writeCProject(dir, files);
  const lines = [
    `wrote ${files.size} files to ${dir} (${plan.planner} plan: pool ${bytesText(plan.poolBytes)} B + kernel buffers ${bytesText(plan.localBytes)} B)`,
    target === 'host' ? `build and run: make -C ${dir} run-host` : `build and run: make -C ${dir} run-${target}`,
  ];
  if (!options.run) return { text: lines.join('\n'), ok: true };
  const tools = toolAvailability();
  const missing =
    target === 'host'
      ? !tools.hostCc
        ? 'gcc'
        : ''
      : !tools.armGcc
        ? 'arm-none-eabi-gcc'
        : !tools.qemu
          ? 'qemu-system-arm'
          : '';
  if (missing) return { text: [...lines, `cannot run: ${missing} is not installed`].join('\n'), ok: false };
  buildCProject(dir, target);
  const parsed = parseRunOutput(runCProject(dir, target).stdout);
  const expected = Array.from(runReference(graph, input)[graph.output]!);
  const same =
    parsed.done && parsed.output.length === expected.length && parsed.output.every((v, i) => v === expected[i]);
  lines.push(
    `ran ${parsed.steps.length} steps on ${target}; output ${same ? 'is bit-exact with' : 'DIFFERS from'} the TypeScript reference`,
  );
  return { text: lines.join('\n'), ok: same };
}
