/**
 * The text form of modules, functions and tensor programs. `parser.ts` reads it back; the two
 * are round-trip tested, and `tessera compile --print` shows it between passes.
 */
import type { Attrs } from '../backends/backend.js';
import type { Binding, Expr, Func, IRModule } from './graph.js';
import { type PExpr, type TensorProgram, axisVar, reduceVar } from './tir/program.js';
import { dimsString, typeToString } from './types.js';

export function printModule(m: IRModule): string {
  const parts = [...m.programs.values()].map(printProgram);
  parts.push(...[...m.funcs.values()].map(printFunc));
  return parts.join('\n') + (parts.length ? '' : '');
}

function attrsText(a: Attrs): string {
  return Object.keys(a).length ? ` ${JSON.stringify(a)}` : '';
}

export function printExpr(e: Expr): string {
  switch (e.k) {
    case 'var':
      return e.name;
    case 'shape':
      return `shape(${e.dims.map((d) => d.toString()).join(', ')})`;
    case 'tuple':
      return `(${e.fields.map(printExpr).join(', ')}${e.fields.length === 1 ? ',' : ''})`;
    case 'get':
      return `${printExpr(e.tuple)}[${e.index}]`;
    case 'call': {
      const args = e.args.map(printExpr);
      switch (e.kind) {
        case 'op':
          return `${e.callee}(${args.join(', ')})${attrsText(e.attrs)}`;
        case 'tir':
          return `call_tir(${[`@${e.callee}`, ...args].join(', ')})${attrsText(e.attrs)}`;
        case 'kernel':
          return `call_kernel(${[JSON.stringify(e.callee), ...args].join(', ')})${attrsText(e.attrs)}`;
        case 'host':
          return `call_host(${[JSON.stringify(e.callee), ...args].join(', ')})${attrsText(e.attrs)}`;
      }
    }
  }
}

export function printBinding(b: Binding): string {
  const value = b.matchCast ? `match_cast(${printExpr(b.value)})` : printExpr(b.value);
  return `${b.var.name}: ${typeToString(b.var.type)} = ${value}`;
}

export function printFunc(f: Func): string {
  const params = f.params.map((p) => `${p.name}: ${typeToString(p.type)}`).join(', ');
  const upper = Object.keys(f.upper).length
    ? ` upper(${Object.entries(f.upper)
        .map(([k, v]) => `${k}=${v}`)
        .join(', ')})`
    : '';
  const lines = [`fn @${f.name}(${params})${upper} {`];
  for (const b of f.blocks) {
    const ind = b.dataflow ? '    ' : '  ';
    if (b.dataflow) lines.push('  dataflow {');
    for (const x of b.bindings) lines.push(ind + printBinding(x));
    if (b.dataflow) lines.push('  }');
  }
  lines.push(`  return ${printExpr(f.ret)}`, '}');
  return lines.join('\n') + '\n';
}

export function fmtFloat(v: number): string {
  const s = String(v);
  return /[.eE]|Infinity|NaN/.test(s) ? s : `${s}.0`;
}

const INFIX = new Set(['+', '-', '*', '/', '<', '<=', '==']);

export function printPExpr(e: PExpr): string {
  switch (e.k) {
    case 'int':
      return String(e.v);
    case 'float':
      return fmtFloat(e.v);
    case 'var':
      return e.name;
    case 'load':
      // an integer load (an index or a bound) is marked, so a printed program never reads as an f32 load
      return `${e.buf}${e.index ? '.int' : ''}[${e.idx.map(printPExpr).join(', ')}]`;
    case 'bin':
      return INFIX.has(e.op)
        ? `(${printPExpr(e.a)} ${e.op} ${printPExpr(e.b)})`
        : `${e.op}(${printPExpr(e.a)}, ${printPExpr(e.b)})`;
    case 'un':
      return `${e.op}(${printPExpr(e.a)})`;
    case 'select':
      return `select(${printPExpr(e.c)}, ${printPExpr(e.a)}, ${printPExpr(e.b)})`;
  }
}

export function printProgram(p: TensorProgram): string {
  const buf = (b: { name: string; dtype: string; shape: readonly { toString(): string }[] }) =>
    `${b.name}: Buffer(${dimsString(b.shape as never)}, ${b.dtype})`;
  const s = p.schedule;
  const head = `prim @${p.name}(${p.inputs.map(buf).join(', ')}) -> ${buf(p.output)} ${p.kind} schedule(workgroupSize=${s.workgroupSize}, elemsPerThread=${s.elemsPerThread}, reduction=${s.reduction}) {`;
  const loops = p.output.shape.map((d, i) => `${axisVar(i)} < ${d.toString()}`).join(', ');
  const lines = [head, `  for ${loops}${loops ? ' ' : ''}{`];
  const idx = p.output.shape.map((_, i) => axisVar(i)).join(', ');
  if (p.reduce) {
    const range = p.reduce.range;
    // a ranged reduction runs over data-dependent bounds within its one extent (CSR rows, say)
    const r = range
      ? `${reduceVar(0)} in [${printPExpr(range.lo)}, ${printPExpr(range.hi)}) within ${p.reduce.extents[0]!.toString()}`
      : p.reduce.extents.map((d, i) => `${reduceVar(i)} < ${d.toString()}`).join(', ');
    lines.push(`    acc = ${p.reduce.op} for ${r} { ${printPExpr(p.body)} }`);
    lines.push(`    ${p.output.name}[${idx}] = ${printPExpr(p.epilogue ?? { k: 'var', name: 'acc' })}`);
  } else {
    lines.push(`    ${p.output.name}[${idx}] = ${printPExpr(p.body)}`);
  }
  lines.push('  }', '}');
  return lines.join('\n') + '\n';
}
