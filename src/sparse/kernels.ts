/**
 * WebGPU kernels of the sparse ops. SpMM of every format is a loop program: the format's lowered
 * nest (`spmm-lower.ts`) transformed by the schedule in the attributes (`spmm-schedule.ts`) and
 * compiled by the generic loop-nest codegen; one pipeline per distinct program (its label names
 * the format, the block or bucket widths, and the schedule).
 */
import type { Attrs, TensorDesc } from '../backends/backend.js';
import type { Capabilities } from '../backends/webgpu/capabilities.js';
import { grid2d } from '../backends/webgpu/grid.js';
import { type GpuKernel, type KernelContext, whyNot } from '../backends/webgpu/kernel.js';
import type { BindingAccess } from '../backends/webgpu/pipeline-cache.js';
import { generateLoopWgsl, loopNestGroups, loopNestUniforms } from '../compiler/codegen/wgsl-loop-nest.js';
import { type LoopProgram, loopProgramDims } from '../ir/tir/loop-nest.js';
import type { SpmmOpName } from './device-layout.js';
import { type SddmmAttrs, type SpmmAttrs, sddmmGeometry, spmmGeometry } from './ops.js';
import { sddmmLabel, sddmmProgram } from './sddmm-lower.js';
import { hybSplitReduceProgram, spmmEnv, spmmLabel, spmmProgram, splitReduceLabel } from './spmm-schedule.js';

/** A compiled loop program, kept per label: building and generating it once per distinct kernel. */
interface CompiledLoopProgram {
  readonly program: LoopProgram;
  readonly dims: readonly string[];
  readonly wgsl: () => string;
}
const compiled = new Map<string, CompiledLoopProgram>();

export function compiledLoopProgram(label: string, build: () => LoopProgram): CompiledLoopProgram {
  let c = compiled.get(label);
  if (!c) {
    const program = build();
    let text: string | undefined;
    c = { program, dims: loopProgramDims(program), wgsl: () => (text ??= generateLoopWgsl(program).wgsl) };
    compiled.set(label, c);
  }
  return c;
}

/** Dispatches a loop program: its bindings in order, its dimensions as the uniform, its grid. */
export function dispatchLoopProgram(
  ctx: KernelContext,
  label: string,
  c: CompiledLoopProgram,
  buffers: Parameters<KernelContext['dispatch']>[1],
  env: Readonly<Record<string, number>>,
): void {
  const access: BindingAccess[] = [
    ...c.program.inputs.map(() => 'read' as const),
    ...c.program.outputs.map(() => 'rw' as const),
    'uniform',
  ];
  ctx.dispatch(
    { label, wgsl: c.wgsl, access },
    buffers,
    loopNestUniforms(c.dims, env),
    grid2d(loopNestGroups(c.program, env), ctx.caps.maxComputeWorkgroupsPerDimension),
  );
}

function spmmKernel(op: SpmmOpName): GpuKernel {
  return {
    op,
    whyUnsupported: (_caps: Capabilities, attrs: Attrs, inputs: readonly TensorDesc[]) =>
      whyNot(() => spmmGeometry(op, attrs as SpmmAttrs, inputs)),
    encode(ctx, rawAttrs, inputs, [y]) {
      const attrs = rawAttrs as SpmmAttrs;
      const { m } = spmmGeometry(op, attrs, inputs);
      const label = spmmLabel(op, attrs);
      const c = compiledLoopProgram(label, () => spmmProgram(op, attrs));
      const env = spmmEnv(op, attrs, inputs, m);
      const split = op === 'spmm_hyb' ? attrs.layout!.split : undefined;
      if (!split) return dispatchLoopProgram(ctx, label, c, [...inputs, y!], env);
      // split rows: the segments' partial rows go to scratch, and a second dispatch (ordered
      // after the first by the queue) sums them into y in segment order
      const f = inputs[inputs.length - 1]!.shape[1]!;
      const part = ctx.scratch(Math.max(4, split.segs * f * 4), 'spmm_hyb.partials');
      dispatchLoopProgram(ctx, label, c, [...inputs, y!, part], env);
      const reduceLabel = splitReduceLabel(attrs.schedule);
      const r = compiledLoopProgram(reduceLabel, () => hybSplitReduceProgram(attrs.schedule));
      dispatchLoopProgram(ctx, reduceLabel, r, [inputs[0]!, part, y!], env);
    },
  };
}

/** SDDMM: the loop-nest program (`sddmm-lower.ts`) scheduled by the attributes' schedule. */
const sddmmCsrKernel: GpuKernel = {
  op: 'sddmm_csr',
  whyUnsupported: (_caps, attrs, inputs) => whyNot(() => sddmmGeometry(attrs as SddmmAttrs, inputs)),
  encode(ctx, rawAttrs, inputs, [out]) {
    const attrs = rawAttrs as SddmmAttrs;
    const { m, n, d, nnz } = sddmmGeometry(attrs, inputs);
    const label = sddmmLabel(attrs.schedule);
    const c = compiledLoopProgram(label, () => sddmmProgram(attrs.schedule));
    dispatchLoopProgram(ctx, label, c, [...inputs, out!], { m, n, d, nnz });
  },
};

export const SPARSE_KERNELS: readonly GpuKernel[] = [
  spmmKernel('spmm_coo'),
  spmmKernel('spmm_csr'),
  spmmKernel('spmm_ell'),
  spmmKernel('spmm_bsr'),
  spmmKernel('spmm_hyb'),
  sddmmCsrKernel,
];
