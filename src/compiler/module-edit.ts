/**
 * Helpers passes share: fresh names inside a function, and adding tensor programs to a module
 * with structural de-duplication (two call sites that need the same loop nest share one program,
 * hence one compiled WGSL pipeline).
 */
import type { Expr, Func, IRModule } from '../ir/graph.js';
import { allBindings } from '../ir/graph.js';
import { printProgram } from '../ir/printer.js';
import { type TensorProgram, mapExpr } from '../ir/tir/program.js';
import { simplifyProgram } from '../ir/tir/simplify.js';
import { classify } from './passes/classify.js';

export class NameSupply {
  private readonly used = new Set<string>();
  constructor(f: Func) {
    f.params.forEach((p) => this.used.add(p.name));
    allBindings(f).forEach((b) => this.used.add(b.var.name));
  }
  /** Reserves `name`; false when it is already taken. */
  claim(name: string): boolean {
    if (this.used.has(name)) return false;
    this.used.add(name);
    return true;
  }
  fresh(base: string): string {
    let name = base;
    for (let i = 1; this.used.has(name); i++) name = `${base}_${i}`;
    this.used.add(name);
    return name;
  }
}

/** A mutable view of a module's programs that de-duplicates by structure. */
export class ProgramTable {
  readonly programs: Map<string, TensorProgram>;
  private readonly byShape = new Map<string, string>();
  constructor(m: IRModule) {
    this.programs = new Map(m.programs);
    for (const p of this.programs.values()) this.byShape.set(structuralKey(p), p.name);
  }

  /** Adds `p` (renamed if its name is taken) or returns the name of an identical existing program. */
  add(input: TensorProgram): string {
    const simple = simplifyProgram(input);
    const p = { ...simple, kind: classify(simple) };
    const key = structuralKey(p);
    const existing = this.byShape.get(key);
    if (existing) return existing;
    let name = p.name;
    for (let i = 1; this.programs.has(name); i++) name = `${p.name}_${i}`;
    this.programs.set(name, { ...p, name });
    this.byShape.set(key, name);
    return name;
  }
}

function structuralKey(p: TensorProgram): string {
  return printProgram({ ...p, name: '_' });
}

/**
 * One buffer per distinct argument: WebGPU forbids binding one buffer to two writable storage
 * bindings of a dispatch, so `maximum(x, x)` must read x through a single input.
 */
export function dedupeArgs(p: TensorProgram, args: readonly Expr[]): { prog: TensorProgram; args: Expr[] } {
  const keep: number[] = [];
  const rename = new Map<string, string>();
  args.forEach((a, i) => {
    const j =
      a.k === 'var'
        ? keep.find((k) => {
            const b = args[k]!;
            return b.k === 'var' && b.name === a.name;
          })
        : undefined;
    if (j === undefined) keep.push(i);
    else rename.set(p.inputs[i]!.name, p.inputs[j]!.name);
  });
  if (rename.size === 0) return { prog: p, args: [...args] };
  const fix = (e: TensorProgram['body']): TensorProgram['body'] =>
    mapExpr(e, (x) =>
      x.k === 'load' && rename.has(x.buf) ? { ...x, buf: rename.get(x.buf)!, idx: x.idx.map(fix) } : undefined,
    );
  const prog: TensorProgram = {
    ...p,
    inputs: keep.map((i) => p.inputs[i]!),
    body: fix(p.body),
    ...(p.epilogue ? { epilogue: fix(p.epilogue) } : {}),
  };
  return { prog, args: keep.map((i) => args[i]!) };
}
