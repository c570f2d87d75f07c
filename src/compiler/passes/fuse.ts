/**
 * FuseOps for our IR. Three rules, applied to a fixpoint within each block, and only when the
 * producer's result has a single use (so nothing is computed twice and no buffer is still needed):
 *
 * 1. an elementwise/injective tensor program is inlined into the tensor program that reads it
 *    (its body replaces the consumer's loads, with loop indices substituted), except an injective
 *    one into a reduction (its index arithmetic would run per reduction term);
 * 2. an elementwise tail reading a reduction's result at the same position becomes that
 *    reduction's epilogue;
 * 3. an elementwise tail of a library kernel that offers an epilogue hook (the `matmul` op's
 *    `epilogue` expression, see src/ops/matmul.ts) moves into the kernel call; kernels without
 *    the hook are never fused into.
 *
 * Buffers per fused program stay within WebGPU's default of 8 storage bindings per stage.
 */
import type { Attrs } from '../../backends/backend.js';
import {
  type Binding,
  type Block,
  type Call,
  type Expr,
  type Func,
  type IRModule,
  callOf,
  exprVars,
} from '../../ir/graph.js';
import { fmtFloat } from '../../ir/printer.js';
import { type BinaryOp, type Expr as LibExpr, parseExpr } from '../../ops/expr.js';
import {
  type BufferParam,
  type PExpr,
  type TensorProgram,
  mapExpr,
  pvar,
  substVars,
  visitExpr,
} from '../../ir/tir/program.js';
import type { TensorType } from '../../ir/types.js';
import { ProgramTable } from '../module-edit.js';
import { classify, isBroadcastLoad } from './classify.js';

export interface FuseOptions {
  /** Library ops that accept an `epilogue` expression attribute (default: `matmul`). */
  readonly epilogueKernels?: readonly string[];
  /** Storage buffers a fused program may bind, output included (default 8). */
  readonly maxBuffers?: number;
  /** Extra epilogue inputs a kernel call may take (default 2). */
  readonly maxEpilogueInputs?: number;
}

interface Site {
  readonly prog: TensorProgram;
  readonly args: readonly Expr[];
}

/** Renames inputs to x0…xn in order (so structurally equal fused programs de-duplicate). */
function canonicalInputs(p: TensorProgram): TensorProgram {
  const rename = new Map(p.inputs.map((b, i) => [b.name, `x${i}`]));
  const fix = (e: PExpr): PExpr =>
    mapExpr(e, (x) => (x.k === 'load' ? { ...x, buf: rename.get(x.buf) ?? x.buf, idx: x.idx.map(fix) } : undefined));
  // temporary names first so x1→x0 and x0→x1 swaps cannot collide
  return {
    ...p,
    inputs: p.inputs.map((b) => ({ ...b, name: rename.get(b.name)! })),
    body: fix(p.body),
    ...(p.epilogue ? { epilogue: fix(p.epilogue) } : {}),
  };
}

/** Merges producer inputs into the consumer's input list, sharing buffers bound to the same variable. */
function mergeInputs(
  cons: Site,
  drop: number,
  prod: Site,
): { inputs: BufferParam[]; args: Expr[]; rename: Map<string, string> } {
  const inputs: BufferParam[] = [];
  const args: Expr[] = [];
  const key = (e: Expr) => (e.k === 'var' ? e.name : undefined);
  cons.prog.inputs.forEach((b, i) => {
    if (i !== drop) {
      inputs.push({ ...b, name: `c_${b.name}` });
      args.push(cons.args[i]!);
    }
  });
  const rename = new Map<string, string>();
  prod.prog.inputs.forEach((b, j) => {
    const a = prod.args[j]!;
    const k = key(a);
    const found = k === undefined ? -1 : args.findIndex((x) => key(x) === k);
    if (found >= 0) {
      rename.set(b.name, inputs[found]!.name);
      return;
    }
    const name = `p_${b.name}`;
    rename.set(b.name, name);
    inputs.push({ ...b, name });
    args.push(a);
  });
  return { inputs, args, rename };
}

/** `fused_<ops>`: the base op names of both sides, without repeats or numeric suffixes. */
function fusedName(a: string, b: string): string {
  const parts = (n: string) =>
    n
      .replace(/^fused_/, '')
      .split('_')
      .filter((x) => !/^\d+$/.test(x));
  const ops: string[] = [];
  for (const x of [...parts(a), ...parts(b)]) if (ops[ops.length - 1] !== x) ops.push(x);
  return `fused_${ops.join('_')}`.slice(0, 48);
}

const renameLoads = (e: PExpr, rename: ReadonlyMap<string, string>): PExpr =>
  mapExpr(e, (x) =>
    x.k === 'load'
      ? { ...x, buf: rename.get(x.buf) ?? x.buf, idx: x.idx.map((i) => renameLoads(i, rename)) }
      : undefined,
  );

/** Rule 1: inline an elementwise/injective producer into any tensor-program consumer. */
function inlineProducer(cons: Site, argIndex: number, prod: Site): Site {
  const pname = cons.prog.inputs[argIndex]!.name;
  const { inputs, args, rename } = mergeInputs(cons, argIndex, prod);
  const consRename = new Map(cons.prog.inputs.map((b) => [b.name, `c_${b.name}`]));
  const prodBody = renameLoads(prod.prog.body, rename);
  const replace = (e: PExpr): PExpr =>
    mapExpr(e, (x) => {
      if (x.k !== 'load') return undefined;
      const idx = x.idx.map(replace);
      if (x.buf !== pname) return { ...x, buf: consRename.get(x.buf) ?? x.buf, idx };
      return substVars(prodBody, new Map(idx.map((ix, k) => [`i${k}`, ix])));
    });
  const prog: TensorProgram = {
    ...cons.prog,
    name: fusedName(prod.prog.name, cons.prog.name),
    inputs,
    body: replace(cons.prog.body),
    ...(cons.prog.epilogue ? { epilogue: replace(cons.prog.epilogue) } : {}),
  };
  return { prog: canonicalInputs({ ...prog, kind: classify(prog) }), args };
}

function loadsOf(e: PExpr, buf: string): PExpr[][] {
  const out: PExpr[][] = [];
  visitExpr(e, (x) => {
    if (x.k === 'load' && x.buf === buf) out.push([...x.idx]);
  });
  return out;
}

const identityIdx = (idx: readonly PExpr[], rank: number) =>
  idx.length === rank && idx.every((x, k) => x.k === 'var' && x.name === `i${k}`);

/** Rule 2: an elementwise consumer reading a reduction at its own position becomes the epilogue. */
function intoReductionEpilogue(cons: Site, argIndex: number, prod: Site): Site | undefined {
  const pname = cons.prog.inputs[argIndex]!.name;
  const rank = cons.prog.output.shape.length;
  if (prod.prog.output.shape.length !== rank) return undefined;
  if (!loadsOf(cons.prog.body, pname).every((idx) => identityIdx(idx, rank))) return undefined;
  // the consumer's inputs become the reduction's: merge with the roles swapped
  const { inputs, args, rename } = mergeInputs({ prog: prod.prog, args: prod.args }, -1, {
    prog: { ...cons.prog, inputs: cons.prog.inputs.filter((_, i) => i !== argIndex) },
    args: cons.args.filter((_, i) => i !== argIndex),
  });
  const prodRename = new Map(prod.prog.inputs.map((b) => [b.name, `c_${b.name}`]));
  const acc = prod.prog.epilogue ? renameLoads(prod.prog.epilogue, prodRename) : pvar('acc');
  const epilogue = mapExpr(cons.prog.body, (x) => {
    if (x.k !== 'load') return undefined;
    if (x.buf === pname) return acc;
    return { ...x, buf: rename.get(x.buf) ?? x.buf };
  });
  const prog: TensorProgram = {
    ...prod.prog,
    name: fusedName(prod.prog.name, cons.prog.name),
    inputs,
    output: cons.prog.output,
    body: renameLoads(prod.prog.body, prodRename),
    epilogue,
  };
  return { prog: canonicalInputs(prog), args };
}

/** Operands of a hooked kernel before its epilogue inputs (matmul: a, b). */
const KERNEL_OPERANDS = 2;

const LIB_BIN: Readonly<Record<string, BinaryOp>> = {
  '+': 'add',
  '-': 'sub',
  '*': 'mul',
  '/': 'div',
  min: 'min',
  max: 'max',
  pow: 'pow',
};
const LIB_INFIX: Partial<Record<BinaryOp, string>> = { add: '+', sub: '-', mul: '*', div: '/' };

/** Prints the shared expression language (src/ops/expr.ts) so that its parser reads it back. */
export function libExprText(e: LibExpr): string {
  switch (e.k) {
    case 'in':
      return `x${e.i}`;
    case 'const':
      return e.v < 0 ? `(0 - ${fmtFloat(-e.v)})` : fmtFloat(e.v);
    case 'un':
      return `${e.op}(${libExprText(e.a)})`;
    case 'bin': {
      const infix = LIB_INFIX[e.op];
      return infix
        ? `(${libExprText(e.a)} ${infix} ${libExprText(e.b)})`
        : `${e.op}(${libExprText(e.a)}, ${libExprText(e.b)})`;
    }
  }
}

/**
 * Rule 3: the consumer's body as a library epilogue over x0 = the kernel's result. An existing
 * epilogue composes: x0 becomes the old expression, new extra inputs number after the old ones.
 */
function toEpilogue(
  cons: TensorProgram,
  argIndex: number,
  maxExtra: number,
  prior: { expr: string; extras: number } | undefined,
): { expr: string; extra: number[] } | undefined {
  const pname = cons.inputs[argIndex]!.name;
  const rank = cons.output.shape.length;
  const x0: LibExpr = prior ? parseExpr(prior.expr) : { k: 'in', i: 0 };
  const base = prior?.extras ?? 0;
  const extra: number[] = [];
  const shapes = new Map(cons.inputs.map((b, i) => [b.name, { shape: b.shape, i }]));
  let ok = true;
  const go = (e: PExpr): LibExpr => {
    switch (e.k) {
      case 'float':
        return { k: 'const', v: e.v };
      case 'load': {
        if (e.buf === pname) {
          if (!identityIdx(e.idx, rank)) ok = false;
          return x0;
        }
        const b = shapes.get(e.buf)!;
        if (!isBroadcastLoad(e.idx, b.shape, cons.output.shape)) ok = false;
        let k = extra.indexOf(b.i);
        if (k < 0) {
          extra.push(b.i);
          k = extra.length - 1;
        }
        return { k: 'in', i: base + k + 1 };
      }
      case 'un':
        return { k: 'un', op: e.op, a: go(e.a) };
      case 'bin': {
        const op = LIB_BIN[e.op];
        if (!op) {
          ok = false;
          return x0;
        }
        return { k: 'bin', op, a: go(e.a), b: go(e.b) };
      }
      default:
        ok = false;
        return x0;
    }
  };
  const expr = go(cons.body);
  return ok && base + extra.length <= maxExtra ? { expr: libExprText(expr), extra } : undefined;
}

/**
 * The kernel call `pc` (bound by `pb`) with the elementwise consumer bound by `cb` (its `ai`-th
 * argument is the kernel's output) as its epilogue, under `cb`'s variable; undefined where the
 * consumer does not fit an epilogue (too many extra inputs).
 */
function kernelWithEpilogue(
  pc: Call,
  pb: Binding,
  cb: Binding,
  cons: Site,
  ai: number,
  maxExtra: number,
): Binding | undefined {
  const prior =
    typeof pc.attrs.epilogue === 'string'
      ? { expr: pc.attrs.epilogue, extras: pc.args.length - KERNEL_OPERANDS }
      : undefined;
  const ep = toEpilogue(cons.prog, ai, maxExtra, prior);
  if (!ep) return undefined;
  const outT = cb.var.type as TensorType;
  const prodT = pb.var.type as TensorType;
  const attrs: Attrs = {
    ...pc.attrs,
    epilogue: ep.expr,
    ...(outT.dtype !== prodT.dtype ? { outDtype: outT.dtype } : {}),
  };
  return {
    var: cb.var,
    value: callOf('kernel', pc.callee, [...pc.args, ...ep.extra.map((i) => cons.args[i]!)], attrs),
  };
}

export function fuseFunc(f: Func, table: ProgramTable, opts: FuseOptions = {}): Func {
  const hooks = new Set(opts.epilogueKernels ?? ['matmul']);
  const maxBuffers = opts.maxBuffers ?? 8;
  const maxExtra = opts.maxEpilogueInputs ?? 2;
  const blocks: Block[] = f.blocks.map((blk) => {
    if (!blk.dataflow) return blk;
    const bs: (Binding | undefined)[] = [...blk.bindings];
    const uses = new Map<string, number>();
    const defAt = new Map<string, number>();
    const recount = () => {
      uses.clear();
      defAt.clear();
      const count = (e: Expr) => exprVars(e).forEach((v) => uses.set(v.name, (uses.get(v.name) ?? 0) + 1));
      f.blocks.forEach((b) => {
        if (b !== blk) b.bindings.forEach((x) => count(x.value));
      });
      bs.forEach((b, i) => {
        if (b) {
          count(b.value);
          defAt.set(b.var.name, i);
        }
      });
      count(f.ret);
    };
    recount();
    const site = (c: Call): Site => ({ prog: table.programs.get(c.callee)!, args: c.args });
    for (let changed = true; changed; ) {
      changed = false;
      for (let ci = 0; ci < bs.length && !changed; ci++) {
        const cb = bs[ci];
        if (!cb || cb.matchCast || cb.value.k !== 'call' || cb.value.kind !== 'tir') continue;
        const cons = site(cb.value);
        for (let ai = 0; ai < cons.args.length && !changed; ai++) {
          const a = cons.args[ai]!;
          if (a.k !== 'var' || uses.get(a.name) !== 1) continue;
          const pi = defAt.get(a.name);
          const pb = pi === undefined ? undefined : bs[pi];
          if (!pb || pb.matchCast || pb.value.k !== 'call') continue;
          const pc = pb.value;
          let fused: Binding | undefined;
          if (pc.kind === 'tir') {
            const prod = site(pc);
            let s: Site | undefined;
            // an index-remapping producer (resize, concat, transpose) stays its own pass before a
            // reduction: inlined, its index arithmetic (divisions, a select loading both sides of a
            // concat) would run once per reduction term, and a convolution reads each input
            // element O·KH·KW times; materialised it costs one write and one read per element
            const remapsIntoReduction = prod.prog.kind === 'injective' && cons.prog.kind === 'reduction';
            if (prod.prog.kind !== 'reduction' && !remapsIntoReduction) s = inlineProducer(cons, ai, prod);
            else if (cons.prog.kind === 'elementwise') s = intoReductionEpilogue(cons, ai, prod);
            if (s && s.prog.inputs.length + 1 <= maxBuffers)
              fused = { var: cb.var, value: callOf('tir', table.add(s.prog), s.args) };
          } else if (pc.kind === 'kernel' && hooks.has(pc.callee) && cons.prog.kind === 'elementwise') {
            fused = kernelWithEpilogue(pc, pb, cb, cons, ai, maxExtra);
          }
          if (!fused) continue;
          bs[pi!] = undefined;
          bs[ci] = fused;
          recount();
          changed = true;
        }
      }
    }
    return { dataflow: true, bindings: bs.filter((b): b is Binding => b !== undefined) };
  });
  return { ...f, blocks };
}

/** Fuses every function, then drops programs no call refers to any more. */
export function fuse(m: IRModule, opts: FuseOptions = {}): IRModule {
  const table = new ProgramTable(m);
  const funcs = new Map([...m.funcs].map(([k, f]) => [k, fuseFunc(f, table, opts)]));
  return { funcs, programs: table.programs };
}
