/** Lowering: a planned function becomes a flat instruction list over registers. */
import { type Expr, type Func, IRError, type IRModule, allBindings } from '../../ir/graph.js';
import { typeVars } from '../../ir/types.js';
import { generateJs } from '../codegen/js-program.js';
import { generateWgsl } from '../codegen/wgsl-program.js';
import type { CompiledProgram, ExecFunc, Executable, Instr } from '../executable.js';
import { type MemoryPlan, allocates, isView } from './plan-memory.js';

export function lowerFunc(f: Func, plan: MemoryPlan): ExecFunc {
  const regs = new Map<string, number>();
  const instrs: Instr[] = [];
  let next = 0;
  const reg = (name: string) => {
    const r = next++;
    regs.set(name, r);
    return r;
  };
  const syms = new Set<string>();
  const params = f.params.map((p) => {
    const r = reg(p.name);
    instrs.push({ op: 'match', src: r, type: p.type, what: p.name });
    typeVars(p.type).forEach((s) => syms.add(s));
    return { name: p.name, type: p.type };
  });
  const read = (e: Expr, at: string): number => {
    switch (e.k) {
      case 'var': {
        const r = regs.get(e.name);
        if (r === undefined) throw new IRError({ func: f.name, binding: at }, `reads '${e.name}' before it is defined`);
        return r;
      }
      case 'shape': {
        const r = next++;
        instrs.push({ op: 'shape', dst: r, dims: e.dims });
        return r;
      }
      case 'tuple': {
        const srcs = e.fields.map((x) => read(x, at));
        const r = next++;
        instrs.push({ op: 'tuple', dst: r, srcs });
        return r;
      }
      case 'get': {
        const src = read(e.tuple, at);
        const r = next++;
        instrs.push({ op: 'get', dst: r, src, index: e.index });
        return r;
      }
      case 'call':
        throw new IRError({ func: f.name, binding: at }, 'nested call (run normalize first)');
    }
  };
  for (const b of allBindings(f)) {
    const at = b.var.name;
    typeVars(b.var.type).forEach((s) => syms.add(s));
    const v = b.value;
    if (allocates(b) && v.k === 'call') {
      if (v.kind === 'op') throw new IRError({ func: f.name, binding: at }, `op '${v.callee}' was not legalized`);
      const t = b.var.type;
      if (t.k !== 'tensor' || !t.shape)
        throw new IRError({ func: f.name, binding: at }, 'a destination needs a tensor type with a known shape');
      const args = v.args.map((a) => read(a, at));
      const out = reg(at);
      const token = plan.assign.get(at);
      instrs.push({
        op: 'alloc',
        dst: out,
        dtype: t.dtype,
        shape: t.shape,
        what: at,
        ...(token !== undefined ? { token } : {}),
      });
      if (v.kind === 'kernel') instrs.push({ op: 'kernel', name: v.callee, attrs: v.attrs, args, out, what: at });
      else if (v.kind === 'tir') instrs.push({ op: 'program', name: v.callee, args, out, what: at });
      else instrs.push({ op: 'host', name: v.callee, attrs: v.attrs, args, out, what: at });
      continue;
    }
    if (v.k === 'call' && isView(v)) {
      const t = b.var.type;
      if (t.k !== 'tensor' || !t.shape)
        throw new IRError({ func: f.name, binding: at }, 'a view needs a tensor type with a known shape');
      const src = read(v.args[0]!, at);
      instrs.push({ op: 'view', dst: reg(at), src, shape: t.shape, what: at });
      continue;
    }
    const src = read(v, at);
    const dst = reg(at);
    instrs.push({ op: 'move', dst, src });
    if (b.matchCast) instrs.push({ op: 'match', src: dst, type: b.var.type, what: at });
  }
  const ret = read(f.ret, 'return');
  return { name: f.name, params, instrs, ret, registers: next, plan, upper: f.upper, symVars: [...syms].sort() };
}

let compileCounter = 0;

export function lowerModule(m: IRModule, plans: ReadonlyMap<string, MemoryPlan>): Executable {
  const funcs = new Map([...m.funcs].map(([k, f]) => [k, lowerFunc(f, plans.get(k)!)]));
  const programs = new Map<string, CompiledProgram>(
    [...m.programs].map(([k, p]) => [k, { program: p, wgsl: generateWgsl(p), js: generateJs(p) }]),
  );
  return Object.freeze({ funcs, programs, compileId: ++compileCounter });
}
