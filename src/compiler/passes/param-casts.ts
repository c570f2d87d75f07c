/**
 * A matmul's epilogue input that is only a cast of a function parameter (a bias stored in the
 * weights' dtype, cast to the activations' dtype every step) reads the parameter itself: the
 * epilogue loads any float dtype as f32, so the cast's dispatch goes and the bias is added
 * unrounded. The same holds for a cast of a kernel's f32 side output made to be added in an
 * epilogue (`lora_delta`'s LoRA terms). Runs after FuseOps; the cast, then unused, is left to
 * dead-code elimination.
 */
import { type Binding, type Expr, type Func, type IRModule, callOf, exprVars } from '../../ir/graph.js';
import type { TensorProgram } from '../../ir/tir/program.js';

/** Kernels whose f32 outputs exist to be added in a projection's epilogue. */
const EPILOGUE_ADDENDS = new Set(['lora_delta']);

/** An elementwise program that only loads its one input at the output's own index. */
function isPureCast(p: TensorProgram): boolean {
  const b = p.body;
  const input = p.inputs[0];
  if (p.inputs.length !== 1 || p.kind !== 'elementwise' || b.k !== 'load' || b.buf !== input?.name) return false;
  if (input.shape.length !== p.output.shape.length || !input.shape.every((d, i) => d.equals(p.output.shape[i]!)))
    return false;
  return b.idx.every((x, i) => x.k === 'var' && x.name === `i${i}`);
}

export function paramCastsFunc(f: Func, programs: IRModule['programs']): Func {
  const params = new Set(f.params.map((p) => p.name));
  const uses = new Map<string, number>();
  for (const blk of f.blocks)
    for (const b of blk.bindings) exprVars(b.value).forEach((v) => uses.set(v.name, (uses.get(v.name) ?? 0) + 1));
  exprVars(f.ret).forEach((v) => uses.set(v.name, (uses.get(v.name) ?? 0) + 1));
  const addends = new Set<string>();
  for (const blk of f.blocks)
    for (const b of blk.bindings)
      if (b.value.k === 'call' && b.value.kind === 'kernel' && EPILOGUE_ADDENDS.has(b.value.callee))
        addends.add(b.var.name);
  const castOf = new Map<string, Expr>();
  for (const blk of f.blocks)
    for (const b of blk.bindings) {
      const v = b.value;
      const src = v.k === 'call' && v.kind === 'tir' ? v.args[0] : undefined;
      const castable = src?.k === 'var' && (params.has(src.name) || addends.has(src.name));
      if (castable && isPureCast(programs.get((v as { callee: string }).callee)!)) castOf.set(b.var.name, src);
    }
  const rewrite = (b: Binding): Binding => {
    const v = b.value;
    if (v.k !== 'call' || v.kind !== 'kernel' || v.callee !== 'matmul' || v.args.length <= 2) return b;
    const extras = v.args.slice(2).map((x) => (x.k === 'var' && uses.get(x.name) === 1 && castOf.get(x.name)) || x);
    return { ...b, value: callOf('kernel', 'matmul', [...v.args.slice(0, 2), ...extras], v.attrs) };
  };
  return { ...f, blocks: f.blocks.map((blk) => ({ ...blk, bindings: blk.bindings.map(rewrite) })) };
}

export function paramCasts(m: IRModule): IRModule {
  return { ...m, funcs: new Map([...m.funcs].map(([k, f]) => [k, paramCastsFunc(f, m.programs)])) };
}
