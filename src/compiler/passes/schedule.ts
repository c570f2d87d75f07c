/**
 * Picks each tensor program's schedule: 16-bit outputs write packed pairs; long reductions (a
 * proven extent of at least 128 under the bounds, 32-bit output) get a workgroup per output and
 * a shared-memory tree, short ones (and programs marked `reduceInThread`) a thread per output.
 */
import type { IRModule } from '../../ir/graph.js';
import { upperBound, boundsFromUpper } from '../../ir/sym/prove.js';
import { Sym } from '../../ir/sym/sym.js';
import type { Schedule, TensorProgram } from '../../ir/tir/program.js';

export function chooseSchedule(p: TensorProgram, upper: Readonly<Record<string, number>>): Schedule {
  const packed = p.output.dtype === 'f16' || p.output.dtype === 'bf16';
  if (p.reduce) {
    const extent = upperBound(
      p.reduce.extents.reduce((a, d) => a.mul(d), Sym.const(1)),
      boundsFromUpper(upper),
    );
    if (!packed && extent >= 128 && !p.reduceInThread)
      return { workgroupSize: extent >= 256 ? 256 : 128, elemsPerThread: 1, reduction: 'workgroup' };
    return { workgroupSize: 64, elemsPerThread: packed ? 2 : 1, reduction: 'thread' };
  }
  return { workgroupSize: 256, elemsPerThread: packed ? 2 : 1, reduction: 'thread' };
}

/** Upper bounds of all functions merged (programs are shared across functions). */
export function schedule(m: IRModule): IRModule {
  const upper: Record<string, number> = {};
  for (const f of m.funcs.values()) for (const [k, v] of Object.entries(f.upper)) upper[k] = Math.max(upper[k] ?? 0, v);
  return {
    funcs: m.funcs,
    programs: new Map([...m.programs].map(([k, p]) => [k, { ...p, schedule: chooseSchedule(p, upper) }])),
  };
}
