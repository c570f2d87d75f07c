/** Lowering: a planned function becomes a flat instruction list over registers. */
import { type Binding, type Call, type Expr, type Func, IRError, type IRModule, allBindings } from '../../ir/graph.js';
import { typeVars } from '../../ir/types.js';
import { generateJs } from '../codegen/js-program.js';
import { generateWgsl } from '../codegen/wgsl-program.js';
import type { CompiledProgram, ExecFunc, Executable, Instr } from '../executable.js';
import { type MemoryPlan, allocatedTensors, allocates, isView } from './plan-memory.js';

/** Registers and instructions of one function as it is lowered. */
class Lowering {
  readonly regs = new Map<string, number>();
  readonly instrs: Instr[] = [];
  next = 0;
  constructor(readonly func: string) {}

  reg(name: string): number {
    const r = this.next++;
    this.regs.set(name, r);
    return r;
  }

  fail(at: string, message: string): never {
    throw new IRError({ func: this.func, binding: at }, message);
  }

  /** The register holding `e`'s value (emitting the instructions that build it). */
  read(e: Expr, at: string): number {
    switch (e.k) {
      case 'var': {
        const r = this.regs.get(e.name);
        return r ?? this.fail(at, `reads '${e.name}' before it is defined`);
      }
      case 'shape': {
        const r = this.next++;
        this.instrs.push({ op: 'shape', dst: r, dims: e.dims });
        return r;
      }
      case 'tuple': {
        const srcs = e.fields.map((x) => this.read(x, at));
        const r = this.next++;
        this.instrs.push({ op: 'tuple', dst: r, srcs });
        return r;
      }
      case 'get': {
        const src = this.read(e.tuple, at);
        const r = this.next++;
        this.instrs.push({ op: 'get', dst: r, src, index: e.index });
        return r;
      }
      case 'call':
        return this.fail(at, 'nested call (run normalize first)');
    }
  }
}

/** A call that writes one fresh tensor: its destination, then the kernel, program or host call. */
function lowerCall(lw: Lowering, b: Binding, v: Call, plan: MemoryPlan): void {
  const at = b.var.name;
  if (v.kind === 'op') lw.fail(at, `op '${v.callee}' was not legalized`);
  const t = b.var.type;
  if (t.k !== 'tensor' || !t.shape) return lw.fail(at, 'a destination needs a tensor type with a known shape');
  const args = v.args.map((a) => lw.read(a, at));
  const out = lw.reg(at);
  const token = plan.assign.get(at);
  lw.instrs.push({
    op: 'alloc',
    dst: out,
    dtype: t.dtype,
    shape: t.shape,
    what: at,
    ...(token !== undefined ? { token } : {}),
  });
  if (v.kind === 'kernel') lw.instrs.push({ op: 'kernel', name: v.callee, attrs: v.attrs, args, out, what: at });
  else if (v.kind === 'tir') lw.instrs.push({ op: 'program', name: v.callee, args, out, what: at });
  else lw.instrs.push({ op: 'host', name: v.callee, attrs: v.attrs, args, out, what: at });
}

function lowerBinding(lw: Lowering, b: Binding, plan: MemoryPlan): void {
  const at = b.var.name;
  const v = b.value;
  if (allocates(b) && v.k === 'call' && b.var.type.k === 'tuple') {
    const read = (e: Expr) => lw.read(e, at);
    lw.instrs.push(
      ...lowerTupleKernel(
        b,
        v,
        plan,
        read,
        (name) => lw.reg(name),
        () => lw.next++,
      ),
    );
  } else if (allocates(b) && v.k === 'call') lowerCall(lw, b, v, plan);
  else if (v.k === 'call' && isView(v)) {
    const t = b.var.type;
    if (t.k !== 'tensor' || !t.shape) return lw.fail(at, 'a view needs a tensor type with a known shape');
    const src = lw.read(v.args[0]!, at);
    lw.instrs.push({ op: 'view', dst: lw.reg(at), src, shape: t.shape, what: at });
  } else {
    const src = lw.read(v, at);
    const dst = lw.reg(at);
    lw.instrs.push({ op: 'move', dst, src });
    if (b.matchCast) lw.instrs.push({ op: 'match', src: dst, type: b.var.type, what: at });
  }
}

export function lowerFunc(f: Func, plan: MemoryPlan): ExecFunc {
  const lw = new Lowering(f.name);
  const syms = new Set<string>();
  const params = f.params.map((p) => {
    const r = lw.reg(p.name);
    lw.instrs.push({ op: 'match', src: r, type: p.type, what: p.name });
    typeVars(p.type).forEach((s) => syms.add(s));
    return { name: p.name, type: p.type };
  });
  for (const b of allBindings(f)) {
    typeVars(b.var.type).forEach((s) => syms.add(s));
    lowerBinding(lw, b, plan);
  }
  const ret = lw.read(f.ret, 'return');
  const { instrs, next: registers } = lw;
  return { name: f.name, params, instrs, ret, registers, plan, upper: f.upper, symVars: [...syms].sort() };
}

/** A kernel that writes several tensors: one destination per tuple field, then the tuple of them. */
function lowerTupleKernel(
  b: Binding,
  v: Call,
  plan: MemoryPlan,
  read: (e: Expr) => number,
  reg: (name: string) => number,
  fresh: () => number,
): Instr[] {
  const at = b.var.name;
  if (v.kind !== 'kernel') throw new IRError({ binding: at }, 'only library kernels return several tensors');
  const args = v.args.map(read);
  const out: Instr[] = [];
  const outs = allocatedTensors(b).map(([name, t]) => {
    if (!t.shape) throw new IRError({ binding: at }, 'a destination needs a tensor type with a known shape');
    const dst = fresh();
    const token = plan.assign.get(name);
    out.push({
      op: 'alloc',
      dst,
      dtype: t.dtype,
      shape: t.shape,
      what: name,
      ...(token !== undefined ? { token } : {}),
    });
    return dst;
  });
  const tuple = reg(at);
  out.push({ op: 'kernel', name: v.callee, attrs: v.attrs, args, out: tuple, outs, what: at });
  out.push({ op: 'tuple', dst: tuple, srcs: outs });
  return out;
}

let compileCounter = 0;

export function lowerModule(m: IRModule, plans: ReadonlyMap<string, MemoryPlan>): Executable {
  const funcs = new Map([...m.funcs].map(([k, f]) => [k, lowerFunc(f, plans.get(k)!)]));
  const programs = new Map<string, CompiledProgram>(
    [...m.programs].map(([k, p]) => [k, { program: p, wgsl: generateWgsl(p), js: generateJs(p) }]),
  );
  return Object.freeze({ funcs, programs, compileId: ++compileCounter });
}
