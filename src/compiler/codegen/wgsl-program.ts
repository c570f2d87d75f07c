/**
 * WGSL for tensor programs (elementwise, broadcast, injective and reduction kinds).
 *
 * Layout contract (shared with the WebGPU backend's `runProgram`): inputs then the output at
 * @group(0) @binding(0…n−1) as read_write storage buffers, the program's symbolic dimensions
 * (sorted by name) at @binding(n) as a uniform array of u32 padded to 16 bytes. 16-bit floats
 * stay packed two to a u32 (no `shader-f16` needed); a thread writes both halves of a word, so
 * 16-bit outputs need an even `elemsPerThread`.
 */
import { exprToWgsl, EXPR_WGSL_PRELUDE, type UnaryOp } from '../../ops/expr.js';
import type { DType } from '../../tensor/dtype.js';
import { Sym } from '../../ir/sym/sym.js';
import {
  type BufferParam,
  type PExpr,
  type TensorProgram,
  axisVar,
  outputElements,
  programSymVars,
  reduceRange,
  reduceVar,
} from '../../ir/tir/program.js';

export interface WgslProgram {
  readonly wgsl: string;
  readonly entryPoint: string;
  /** Uniform order: the values of these dimensions, in this order. */
  readonly dims: readonly string[];
}

class CodegenError extends Error {
  constructor(p: TensorProgram, msg: string) {
    super(`WGSL for program '${p.name}': ${msg}`);
    this.name = 'CodegenError';
  }
}

function storageElem(dt: DType): string {
  switch (dt) {
    case 'f32':
      return 'f32';
    case 'i32':
      return 'i32';
    default:
      return 'u32';
  }
}

const is16 = (dt: DType) => dt === 'f16' || dt === 'bf16';

function loadCode(b: BufferParam, flat: string): string {
  switch (b.dtype) {
    case 'f32':
      return `${b.name}[${flat}]`;
    case 'i32':
    case 'u32':
      return `f32(${b.name}[${flat}])`;
    case 'f16':
      return `tess_ld_f16(${b.name}[(${flat}) >> 1u], ${flat})`;
    case 'bf16':
      return `tess_ld_bf16(${b.name}[(${flat}) >> 1u], ${flat})`;
    default:
      throw new Error(`dtype ${b.dtype} cannot be read by tensor programs`);
  }
}

/** An integer load (index or loop bound): i32 as stored, u32 converted. */
function indexLoadCode(p: TensorProgram, b: BufferParam, flat: string): string {
  if (b.dtype === 'i32') return `${b.name}[${flat}]`;
  if (b.dtype === 'u32') return `i32(${b.name}[${flat}])`;
  throw new CodegenError(p, `index load of '${b.name}' needs an i32 or u32 buffer, it is ${b.dtype}`);
}

type Ty = 'i32' | 'f32' | 'bool';
interface Code {
  readonly c: string;
  readonly t: Ty;
}

const asF = (x: Code) => (x.t === 'f32' ? x.c : x.t === 'i32' ? `f32(${x.c})` : `select(0.0, 1.0, ${x.c})`);
const asB = (x: Code) => (x.t === 'bool' ? x.c : x.t === 'i32' ? `(${x.c} != 0)` : `(${x.c} != 0.0)`);

function symCode(s: Sym): string {
  // dimensions are in scope as i32 lets named v_<name>, clear of WGSL keywords and our locals
  const text = s
    .toString()
    .replace(/[A-Za-z_][A-Za-z0-9_]*/g, (id) =>
      id === 'floordiv' ? 'tess_fdiv' : id === 'floormod' ? 'tess_fmod' : id === 'min' || id === 'max' ? id : `v_${id}`,
    );
  return `(${text})`;
}

function genExpr(p: TensorProgram, e: PExpr, bufs: Map<string, BufferParam>): Code {
  const go = (e: PExpr): Code => {
    switch (e.k) {
      case 'int':
        return { c: `${e.v}`, t: 'i32' };
      case 'float': {
        if (!Number.isFinite(e.v)) throw new CodegenError(p, `non-finite constant ${e.v}`);
        const s = String(Math.fround(e.v));
        return { c: /[.e]/.test(s) ? `f32(${s})` : `${s}.0`, t: 'f32' };
      }
      case 'var':
        return { c: e.name === 'acc' ? 'acc' : `v_${e.name}`, t: e.name === 'acc' ? 'f32' : 'i32' };
      case 'load': {
        const b = bufs.get(e.buf);
        if (!b) throw new CodegenError(p, `unknown buffer '${e.buf}'`);
        let flat = '0';
        e.idx.forEach((x, k) => {
          const ix = go(x);
          if (ix.t !== 'i32') throw new CodegenError(p, `index ${k} of '${e.buf}' is not an integer`);
          flat = k === 0 ? ix.c : `((${flat}) * ${symCode(b.shape[k]!)} + ${ix.c})`;
        });
        if (e.index) return { c: indexLoadCode(p, b, `u32(${flat})`), t: 'i32' };
        return { c: loadCode(b, `u32(${flat})`), t: 'f32' };
      }
      case 'un': {
        const a = asF(go(e.a));
        return { c: exprToWgsl({ k: 'un', op: e.op as UnaryOp, a: { k: 'in', i: 0 } }, () => a), t: 'f32' };
      }
      case 'select': {
        const a = go(e.a);
        const b = go(e.b);
        const c = asB(go(e.c));
        if (a.t === 'i32' && b.t === 'i32') return { c: `select(${b.c}, ${a.c}, ${c})`, t: 'i32' };
        return { c: `select(${asF(b)}, ${asF(a)}, ${c})`, t: 'f32' };
      }
      case 'bin': {
        const a = go(e.a);
        const b = go(e.b);
        const ints = a.t === 'i32' && b.t === 'i32';
        switch (e.op) {
          case '<':
          case '<=':
          case '==':
            return { c: ints ? `(${a.c} ${e.op} ${b.c})` : `(${asF(a)} ${e.op} ${asF(b)})`, t: 'bool' };
          case 'floordiv':
          case 'floormod':
            if (!ints) throw new CodegenError(p, `${e.op} needs integer operands`);
            return { c: `tess_${e.op === 'floordiv' ? 'fdiv' : 'fmod'}(${a.c}, ${b.c})`, t: 'i32' };
          case '/':
            return { c: `(${asF(a)} / ${asF(b)})`, t: 'f32' };
          case 'pow':
            return { c: `pow(${asF(a)}, ${asF(b)})`, t: 'f32' };
          case 'min':
          case 'max':
            return ints ? { c: `${e.op}(${a.c}, ${b.c})`, t: 'i32' } : { c: `${e.op}(${asF(a)}, ${asF(b)})`, t: 'f32' };
          default:
            return ints ? { c: `(${a.c} ${e.op} ${b.c})`, t: 'i32' } : { c: `(${asF(a)} ${e.op} ${asF(b)})`, t: 'f32' };
        }
      }
    }
  };
  return go(e);
}

const PRELUDE = /* wgsl */ `
fn tess_fdiv(a: i32, b: i32) -> i32 {
  let q = a / b;
  return select(q, q - 1, (a % b != 0) && ((a < 0) != (b < 0)));
}
fn tess_fmod(a: i32, b: i32) -> i32 { return a - b * tess_fdiv(a, b); }
fn tess_ld_f16(w: u32, i: u32) -> f32 { return unpack2x16float(w)[i & 1u]; }
fn tess_ld_bf16(w: u32, i: u32) -> f32 { return bitcast<f32>(((w >> (16u * (i & 1u))) & 0xffffu) << 16u); }
fn tess_bf16_bits(x: f32) -> u32 {
  let b = bitcast<u32>(x);
  if ((b & 0x7f800000u) == 0x7f800000u && (b & 0x7fffffu) != 0u) { return (b >> 16u) | 0x40u; }
  return ((b + 0x7fffu + ((b >> 16u) & 1u)) >> 16u) & 0xffffu;
}
`;

/** Which loop/dimension names the body refers to, so only those get declared. */
function decomposeCode(shape: readonly Sym[], flat: string, name: (i: number) => string): string {
  const lines: string[] = [`var rem_${name(0)} = ${flat};`];
  for (let k = shape.length - 1; k >= 0; k--) {
    const d = symCode(shape[k]!);
    lines.push(`let v_${name(k)} = rem_${name(0)} % ${d};`);
    if (k > 0) lines.push(`rem_${name(0)} = rem_${name(0)} / ${d};`);
  }
  return lines.join('\n      ');
}

function storeLines(
  out: BufferParam,
  value: (e: number) => string,
  flatOf: (e: number) => string,
  ept: number,
): string[] {
  const lines: string[] = [];
  if (is16(out.dtype)) {
    for (let e = 0; e < ept; e += 2) {
      const pack =
        out.dtype === 'f16'
          ? `pack2x16float(vec2<f32>(${value(e)}, ${value(e + 1)}))`
          : `(tess_bf16_bits(${value(e)}) | (tess_bf16_bits(${value(e + 1)}) << 16u))`;
      lines.push(`if (${flatOf(e)} < total) { ${out.name}[u32(${flatOf(e)}) >> 1u] = ${pack}; }`);
    }
  } else {
    const conv =
      out.dtype === 'f32'
        ? (v: string) => v
        : out.dtype === 'i32'
          ? (v: string) => `i32(${v})`
          : (v: string) => `u32(${v})`;
    for (let e = 0; e < ept; e++)
      lines.push(`if (${flatOf(e)} < total) { ${out.name}[u32(${flatOf(e)})] = ${conv(value(e))}; }`);
  }
  return lines;
}

function checkSchedule(p: TensorProgram): void {
  const { workgroupSize: wg, elemsPerThread: ept, reduction } = p.schedule;
  if (!Number.isInteger(Math.log2(wg)) || wg > 1024)
    throw new CodegenError(p, `workgroup size ${wg} must be a power of two ≤ 1024`);
  if (is16(p.output.dtype) && ept % 2 !== 0)
    throw new CodegenError(p, `16-bit output needs an even elemsPerThread, got ${ept}`);
  if (p.reduce && reduction === 'workgroup' && (is16(p.output.dtype) || ept !== 1))
    throw new CodegenError(p, 'workgroup reduction needs a 32-bit output and elemsPerThread 1');
}

/** Storage bindings for the inputs and the output, then the uniform of symbolic dimensions. */
function bindingDecls(p: TensorProgram, dims: readonly string[]): string[] {
  // inputs read-only: two views of one buffer may be inputs of one program (WebGPU allows that only for read-only bindings)
  const decls = [...p.inputs, p.output].map(
    (b, i) =>
      `@group(0) @binding(${i}) var<storage, ${i < p.inputs.length ? 'read' : 'read_write'}> ${b.name}: array<${storageElem(b.dtype)}>;`,
  );
  const nb = p.inputs.length + 1;
  const words = Math.max(1, Math.ceil(dims.length / 4));
  decls.push(
    `struct TessDims { d: array<vec4<u32>, ${words}> }`,
    `@group(0) @binding(${nb}) var<uniform> tess_dims: TessDims;`,
  );
  return decls;
}

/** The WGSL pieces both entry-point shapes use. */
interface MainParts {
  readonly dimLets: string;
  readonly total: string;
  readonly body: Code;
  readonly init: string;
  readonly epi: string;
  readonly redTotal: string;
  readonly combine: (a: string, b: string) => string;
  /** The bounds of a data-dependent reduction range (i32 code), when the program has one. */
  readonly range?: { readonly lo: string; readonly hi: string };
}

function mainParts(p: TensorProgram, dims: readonly string[]): MainParts {
  const bufs = new Map([...p.inputs, p.output].map((b) => [b.name, b]));
  const op = p.reduce?.op;
  return {
    dimLets: dims.map((d, i) => `let v_${d} = i32(tess_dims.d[${i >> 2}][${i & 3}]);`).join('\n  '),
    total: symCode(outputElements(p)),
    body: genExpr(p, p.body, bufs),
    combine: (a: string, b: string) => (op === 'sum' ? `${a} + ${b}` : `${op}(${a}, ${b})`),
    init: op === 'sum' ? '0.0' : op === 'max' ? '-3.4028234663852886e38' : '3.4028234663852886e38',
    epi: p.reduce ? asF(genExpr(p, p.epilogue ?? { k: 'var', name: 'acc' }, bufs)) : '',
    redTotal: p.reduce ? symCode(p.reduce.extents.reduce((a, d) => a.mul(d), Sym.const(1))) : '1',
    range: rangeCode(p, bufs),
  };
}

function rangeCode(p: TensorProgram, bufs: Map<string, BufferParam>): MainParts['range'] {
  const r = reduceRange(p);
  if (!r) return undefined;
  const lo = genExpr(p, r.lo, bufs);
  const hi = genExpr(p, r.hi, bufs);
  if (lo.t !== 'i32' || hi.t !== 'i32') throw new CodegenError(p, 'reduction range bounds must be integers');
  return { lo: lo.c, hi: hi.c };
}

/** One workgroup per output element: strided partial reductions, then a tree in workgroup memory. */
function workgroupReduceMain(p: TensorProgram, reduce: NonNullable<TensorProgram['reduce']>, m: MainParts): string {
  const wg = p.schedule.workgroupSize;
  return `
var<workgroup> tess_part: array<f32, ${wg}>;
@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  ${m.dimLets}
  let total = ${m.total};
  let o = i32(wid.y * nwg.x + wid.x);
  if (o >= total) { return; }
  ${decomposeCode(p.output.shape, 'o', axisVar)}
  var acc = ${m.init};
  ${
    m.range
      ? `let r_hi = ${m.range.hi};
  for (var r = ${m.range.lo} + i32(lid); r < r_hi; r = r + ${wg}) {
    let v_${reduceVar(0)} = r;`
      : `for (var r = i32(lid); r < ${m.redTotal}; r = r + ${wg}) {
    ${decomposeCode(reduce.extents, 'r', reduceVar)}`
  }
    acc = ${m.combine('acc', asF(m.body))};
  }
  tess_part[lid] = acc;
  workgroupBarrier();
  for (var s = ${wg / 2}u; s > 0u; s = s >> 1u) {
    if (lid < s) { tess_part[lid] = ${m.combine('tess_part[lid]', 'tess_part[lid + s]')}; }
    workgroupBarrier();
  }
  if (lid == 0u) {
    acc = tess_part[0];
    ${storeLines(
      p.output,
      () => m.epi,
      () => 'o',
      1,
    ).join('\n    ')}
  }
}`;
}

/**
 * A thread's serial reduction as one loop per reduced axis, the last innermost: the terms in the
 * order of the flat index r = ((r0·E1 + r1)·E2 + r2)…, without the division and remainder per term
 * that recovering (r0, r1, …) from r costs (a convolution's 3×3 window, for one).
 */
function nestedReduceLoops(extents: readonly Sym[], body: string): string {
  let code = body;
  for (let k = extents.length - 1; k >= 0; k--) {
    const r = reduceVar(k);
    code = `for (var v_${r} = 0; v_${r} < ${symCode(extents[k]!)}; v_${r} = v_${r} + 1) {
        ${code}
      }`;
  }
  return code;
}

/** elemsPerThread outputs per invocation, each reduced serially when the program reduces. */
function perElementMain(p: TensorProgram, m: MainParts): string {
  const { workgroupSize: wg, elemsPerThread: ept } = p.schedule;
  const elementValue = m.range
    ? `var acc = ${m.init};
      let r_hi = ${m.range.hi};
      for (var r = ${m.range.lo}; r < r_hi; r = r + 1) {
        let v_${reduceVar(0)} = r;
        acc = ${m.combine('acc', asF(m.body))};
      }
      vals[e] = ${m.epi};`
    : p.reduce
      ? `var acc = ${m.init};
      ${nestedReduceLoops(p.reduce.extents, `acc = ${m.combine('acc', asF(m.body))};`)}
      vals[e] = ${m.epi};`
      : `vals[e] = ${asF(m.body)};`;
  return `
@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  ${m.dimLets}
  let total = ${m.total};
  let t = i32((wid.y * nwg.x + wid.x) * ${wg}u + lid);
  var vals: array<f32, ${ept}>;
  for (var e = 0; e < ${ept}; e = e + 1) {
    let flat = t * ${ept} + e;
    vals[e] = 0.0;
    if (flat < total) {
      ${decomposeCode(p.output.shape, 'flat', axisVar)}
      ${elementValue}
    }
  }
  ${storeLines(
    p.output,
    (e) => `vals[${e}]`,
    (e) => `(t * ${ept} + ${e})`,
    ept,
  ).join('\n  ')}
}`;
}

export function generateWgsl(p: TensorProgram): WgslProgram {
  checkSchedule(p);
  const dims = programSymVars(p);
  const decls = bindingDecls(p, dims);
  const parts = mainParts(p, dims);
  const main =
    p.reduce && p.schedule.reduction === 'workgroup'
      ? workgroupReduceMain(p, p.reduce, parts)
      : perElementMain(p, parts);
  const wgsl = `// tensor program ${p.name} (${p.kind})\n${decls.join('\n')}\n${EXPR_WGSL_PRELUDE}${PRELUDE}${main}\n`;
  return { wgsl, entryPoint: 'main', dims };
}
