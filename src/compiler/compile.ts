/**
 * The compiler pipeline: normalize → legalize → fuse → param casts → fuse-linear → group LoRA deltas → group projections → fold KV
 * projection → dead code → schedule → plan memory
 * (verified) → lower to an executable. `trace` sees the module text after every pass, which is
 * what `tessera compile --print` shows.
 *
 * Example: `const exe = compile(moduleOf([mlpFunc]), { trace: (pass, text) => console.log(pass, text) });`
 */
import type { IRModule } from '../ir/graph.js';
import { printModule } from '../ir/printer.js';
import type { Executable } from './executable.js';
import { dce } from './passes/dce.js';
import { type FuseOptions, fuse } from './passes/fuse.js';
import { fuseLinear } from './passes/fuse-linear.js';
import { groupLoraDeltas } from './passes/group-lora-deltas.js';
import { groupProjections } from './passes/group-projections.js';
import { foldKvProjection } from './passes/fold-kv-projection.js';
import { paramCasts } from './passes/param-casts.js';
import { legalize } from './passes/legalize.js';
import { lowerModule } from './passes/lower.js';
import { normalize } from './passes/normalize.js';
import { type MemoryPlan, planMemory, printPlan } from './passes/plan-memory.js';
import { schedule } from './passes/schedule.js';
import { verifyPlan } from './passes/verify-plan.js';

export interface CompileOptions extends FuseOptions {
  /** Fuse elementwise chains (default true); false gives the unfused baseline of `bench/fusion.ts`. */
  readonly fuse?: boolean;
  /** Receives the module text after each pass. */
  readonly trace?: (pass: string, text: string) => void;
}

export interface Compiled {
  readonly executable: Executable;
  /** The module after all graph passes (before lowering). */
  readonly module: IRModule;
  readonly plans: ReadonlyMap<string, MemoryPlan>;
}

export function compileModule(input: IRModule, opts: CompileOptions = {}): Compiled {
  const trace = opts.trace ?? (() => {});
  trace('input', printModule(input));
  let m = normalize(input);
  trace('normalize', printModule(m));
  m = legalize(m);
  trace('legalize', printModule(m));
  if (opts.fuse !== false) {
    m = fuse(m, opts);
    trace('fuse', printModule(m));
    m = paramCasts(m);
    trace('param-casts', printModule(m));
    m = fuseLinear(m);
    trace('fuse-linear', printModule(m));
    m = groupLoraDeltas(m);
    trace('group-lora-deltas', printModule(m));
    m = groupProjections(m);
    trace('group-projections', printModule(m));
    m = foldKvProjection(m);
    trace('fold-kv-projection', printModule(m));
  }
  m = dce(m);
  trace('dead-code', printModule(m));
  m = schedule(m);
  trace('schedule', printModule(m));
  const plans = new Map<string, MemoryPlan>();
  for (const [name, f] of m.funcs) {
    const plan = planMemory(f);
    const errors = verifyPlan(f, plan);
    if (errors.length) throw new Error(`memory plan of '${name}' failed verification:\n  ${errors.join('\n  ')}`);
    plans.set(name, plan);
  }
  trace('plan-memory', [...plans.values()].map(printPlan).join('\n'));
  const executable = lowerModule(m, plans);
  return { executable, module: m, plans };
}

export function compile(input: IRModule, opts: CompileOptions = {}): Executable {
  return compileModule(input, opts).executable;
}
