/**
 * Legalize: replaces every high-level op binding by destination-passing calls — a tensor
 * program of ours (elementwise, injective, reductions) or a library kernel (GEMM, norms, RoPE,
 * attention, embedding, softmax, argmax) — or a host call (`arange`). Afterwards a function holds
 * only `tir`, `kernel` and `host` calls, which is what fusion, planning and lowering expect.
 */
import type { UnaryOp } from '../../ops/expr.js';
import type { Attrs } from '../../backends/backend.js';
import {
  type Binding,
  type Block,
  type Call,
  type Expr,
  type Func,
  IRError,
  type IRModule,
  type Var,
  callOf,
  mkVar,
} from '../../ir/graph.js';
import { UNARY_OPS } from '../../ops/expr.js';
import { reducedAxes } from '../../ir/ops/reduce.js';
import type { Sym } from '../../ir/sym/sym.js';
import { proveEqual } from '../../ir/sym/prove.js';
import type { TensorProgram } from '../../ir/tir/program.js';
import { type TensorType, type Type, tensorType, typeToString } from '../../ir/types.js';
import { ProgramTable, dedupeArgs } from '../module-edit.js';
import {
  BINARY_PEXPR,
  type TensorDescSym,
  batchedMatmulProgram,
  binaryBody,
  concatProgram,
  elementwiseProgram,
  permuteProgram,
  reduceProgram,
  scaleBody,
  sliceProgram,
  unaryBody,
} from '../legalize/tensor-programs.js';
import { conv2dProgram, resizeNearestProgram, zeroPadProgram } from '../legalize/vision-programs.js';

/** Graph op → library op name and the attributes it passes on. */
const KERNELS: Readonly<Record<string, { kernel: string; attrs: readonly string[] }>> = {
  softmax: { kernel: 'softmax', attrs: [] },
  rms_norm: { kernel: 'rmsnorm', attrs: ['eps'] },
  layer_norm: { kernel: 'layernorm', attrs: ['eps'] },
  rope: { kernel: 'rope', attrs: ['theta', 'rotaryDim', 'scaling'] },
  attention: { kernel: 'attention', attrs: ['causal', 'scale'] },
  embedding: { kernel: 'embedding', attrs: ['outDtype'] },
  argmax: { kernel: 'argmax', attrs: [] },
};

function pick(attrs: Attrs, keys: readonly string[]): Attrs {
  const out: Record<string, unknown> = {};
  for (const k of keys) if (attrs[k] !== undefined) out[k] = attrs[k];
  return out;
}

class Legalizer {
  private out: Binding[] = [];
  constructor(
    private readonly f: Func,
    private readonly table: ProgramTable,
  ) {}

  private fail(at: string, msg: string): never {
    throw new IRError({ func: this.f.name, binding: at }, `legalize: ${msg}`);
  }

  private static(t: Type, at: string, what: string): TensorType & { shape: readonly Sym[] } {
    if (t.k !== 'tensor' || !t.shape)
      this.fail(at, `${what} has type ${typeToString(t)}; its shape must be known (insert a match_cast)`);
    return t as TensorType & { shape: readonly Sym[] };
  }

  private desc(e: Expr, at: string): TensorDescSym {
    if (e.k !== 'var') this.fail(at, 'tensor arguments must be variables after normalize');
    const t = this.static(e.type, at, `argument '${e.name}'`);
    return { dtype: t.dtype, shape: t.shape };
  }

  private emit(v: Var, value: Call): Var {
    this.out.push({ var: v, value });
    return v;
  }

  private tir(v: Var, p: TensorProgram, args: readonly Expr[]): Var {
    const d = dedupeArgs(p, args);
    return this.emit(v, callOf('tir', this.table.add(d.prog), d.args));
  }

  run(b: Binding): Binding[] {
    this.out = [];
    const { value } = b;
    if (value.k !== 'call' || value.kind !== 'op' || b.matchCast) return [b];
    this.legalize(b.var, value);
    return this.out;
  }

  private legalize(v: Var, c: Call): void {
    const at = v.name;
    const out = this.static(v.type, at, 'the result');
    const outDesc = { dtype: out.dtype, shape: out.shape };
    const kernel = KERNELS[c.callee];
    if (kernel) {
      this.emit(v, callOf('kernel', kernel.kernel, c.args, pick(c.attrs, kernel.attrs)));
      return;
    }
    if (this.elementwise(v, c, outDesc) || this.layout(v, c, out.shape)) return;
    switch (c.callee) {
      case 'sum':
      case 'mean':
      case 'max': {
        const x = this.desc(c.args[0]!, at);
        const axes = reducedAxes(c.callee, c.attrs.axes, x.shape.length);
        this.tir(v, reduceProgram(c.callee, c.callee, x, axes, c.attrs.keepdims === true, out.shape), c.args);
        return;
      }
      case 'matmul':
        this.matmul(v, c, outDesc);
        return;
      case 'arange':
        this.emit(v, callOf('host', 'arange', c.args));
        return;
      case 'conv2d': {
        const [x, w] = [this.desc(c.args[0]!, at), this.desc(c.args[1]!, at)];
        const stride = (c.attrs.stride as number | undefined) ?? 1;
        const padding = (c.attrs.padding as number | undefined) ?? 0;
        const groups = (c.attrs.groups as number | undefined) ?? 1;
        // the weight as [KH, KW, C/groups, O]: a workgroup's threads are consecutive output
        // channels, so each reduction term's weight loads are contiguous instead of C·KH·KW apart
        const wt = this.tir(
          mkVar(`${at}_w_hwio`, tensorType(w.dtype, [w.shape[2]!, w.shape[3]!, w.shape[1]!, w.shape[0]!])),
          permuteProgram('permute_dims', w, [2, 3, 1, 0]),
          [c.args[1]!],
        );
        // zero padding as its own pass (or folded into an injective producer such as a resize +
        // concat): the convolution's terms then need no bounds clamp or select
        let xin = c.args[0]!;
        let xDesc = x;
        if (padding > 0) {
          const pad = zeroPadProgram('zero_pad', x, padding);
          xin = this.tir(mkVar(`${at}_padded`, tensorType(x.dtype, pad.output.shape)), pad, [xin]);
          xDesc = this.desc(xin, at);
        }
        this.tir(v, conv2dProgram('conv2d', xDesc, this.desc(wt, at), stride, groups, out.shape), [
          xin,
          wt,
          ...c.args.slice(2),
        ]);
        return;
      }
      case 'resize_nearest':
        this.tir(v, resizeNearestProgram('resize_nearest', this.desc(c.args[0]!, at), out.shape), [c.args[0]!]);
        return;
      default:
        this.fail(at, `no legalization for op '${c.callee}'`);
    }
  }

  /** Unary, binary, `scale` and `cast` as elementwise programs; false when `c` is none of them. */
  private elementwise(v: Var, c: Call, outDesc: TensorDescSym): boolean {
    const at = v.name;
    const args = c.args;
    if ((UNARY_OPS as readonly string[]).includes(c.callee)) {
      this.tir(
        v,
        elementwiseProgram(c.callee, [this.desc(args[0]!, at)], outDesc, unaryBody(c.callee as UnaryOp)),
        args,
      );
      return true;
    }
    if (BINARY_PEXPR[c.callee]) {
      this.tir(
        v,
        elementwiseProgram(
          c.callee,
          args.map((a) => this.desc(a, at)),
          outDesc,
          binaryBody(c.callee),
        ),
        args,
      );
      return true;
    }
    if (c.callee === 'scale') {
      this.tir(
        v,
        elementwiseProgram('scale', [this.desc(args[0]!, at)], outDesc, scaleBody(c.attrs.factor as number)),
        [args[0]!],
      );
      return true;
    }
    if (c.callee === 'cast') {
      this.tir(
        v,
        elementwiseProgram(`cast_${outDesc.dtype}`, [this.desc(args[0]!, at)], outDesc, (xs) => xs[0]!),
        args,
      );
      return true;
    }
    return false;
  }

  /** Ops that move data without arithmetic (reshape, permute, concat, slice); false when `c` is none of them. */
  private layout(v: Var, c: Call, outShape: readonly Sym[]): boolean {
    const at = v.name;
    const args = c.args;
    switch (c.callee) {
      // row-major tensors: a reshape is a view of the same storage (the planner keeps the source alive)
      case 'reshape':
        this.emit(v, callOf('host', 'view', [args[0]!]));
        return true;
      case 'permute_dims':
        this.tir(v, permuteProgram('permute_dims', this.desc(args[0]!, at), c.attrs.axes as number[]), args);
        return true;
      case 'concat': {
        const rank = outShape.length;
        const axis = (((c.attrs.axis as number | undefined) ?? 0) + rank) % rank;
        this.tir(
          v,
          concatProgram(
            'concat',
            args.map((a) => this.desc(a, at)),
            axis,
            outShape,
          ),
          args,
        );
        return true;
      }
      case 'slice': {
        const x = this.desc(args[0]!, at);
        const axis = (((c.attrs.axis as number | undefined) ?? 0) + x.shape.length) % x.shape.length;
        const begin = (args[1] as { dims: readonly Sym[] }).dims[0]!;
        this.tir(v, sliceProgram('slice', x, axis, begin, outShape), [args[0]!]);
        return true;
      }
      default:
        return false;
    }
  }

  /**
   * The library GEMM takes a 2-D `b` against any batch of `a`, or equal batch shapes on both
   * (see src/ops/matmul.ts); other broadcasts become a reduction program of ours.
   */
  private matmul(v: Var, c: Call, out: TensorDescSym): void {
    const at = v.name;
    const [a, b] = c.args as [Var, Var];
    const ad = this.desc(a, at);
    const bd = this.desc(b, at);
    const batch = out.shape.slice(0, -2);
    const same = (s: readonly Sym[]) =>
      s.length - 2 === batch.length && s.slice(0, -2).every((d, i) => proveEqual(d, batch[i]!));
    if (bd.shape.length === 2 || (same(ad.shape) && same(bd.shape))) {
      this.emit(v, callOf('kernel', 'matmul', [a, b], pick(c.attrs, ['transB', 'outDtype'])));
      return;
    }
    this.tir(v, batchedMatmulProgram('matmul_batched', ad, bd, c.attrs.transB === true, out), [a, b]);
  }
}

export function legalizeFunc(f: Func, table: ProgramTable): Func {
  const lg = new Legalizer(f, table);
  const blocks: Block[] = f.blocks.map((blk) => ({
    dataflow: blk.dataflow,
    bindings: blk.bindings.flatMap((b) => lg.run(b)),
  }));
  return { ...f, blocks };
}

export function legalize(m: IRModule): IRModule {
  const table = new ProgramTable(m);
  const funcs = new Map([...m.funcs].map(([k, f]) => [k, legalizeFunc(f, table)]));
  return { funcs, programs: table.programs };
}
