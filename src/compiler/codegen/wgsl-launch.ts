/**
 * How a generated tensor program is launched: its workgroup grid and its uniform words, from the
 * values of its symbolic dimensions (the WGSL itself: wgsl-program.ts).
 */
import { type TensorProgram, outputElements } from '../../ir/tir/program.js';

const MAX_GROUPS_X = 65535;

/** Workgroup grid for a launch with dimensions `env` (split over y beyond 65535 groups). */
export function launchGrid(p: TensorProgram, env: Readonly<Record<string, number>>): [number, number, number] {
  const total = outputElements(p).eval(env);
  const groups =
    p.reduce && p.schedule.reduction === 'workgroup'
      ? total
      : Math.ceil(Math.ceil(total / p.schedule.elemsPerThread) / p.schedule.workgroupSize);
  if (groups <= MAX_GROUPS_X) return [Math.max(1, groups), 1, 1];
  return [MAX_GROUPS_X, Math.ceil(groups / MAX_GROUPS_X), 1];
}

/** The uniform words of a launch: dimension values in `dims` order, padded to 16 bytes. */
export function launchUniforms(dims: readonly string[], env: Readonly<Record<string, number>>): Uint32Array {
  const u = new Uint32Array(Math.max(4, Math.ceil(dims.length / 4) * 4));
  dims.forEach((d, i) => {
    const v = env[d];
    if (v === undefined) throw new Error(`launch needs dimension '${d}'`);
    u[i] = v;
  });
  return u;
}
