/**
 * The de-raining filter as one IR function (see derain-config.ts for the architecture), with
 * symbolic image sizes: `h`, `w` for the image and `hr`, `wr` for the reference, any sizes ≥ 1
 * (stride-2 convolutions round up, the decoder resizes to its skips' exact sizes), so one
 * compiled artifact serves every image and no padding is needed.
 *
 * Parameters: `x` [1, h, w, 3], `ref` [1, hr, wr, 3] (the filter only), then the weights in
 * `derainWeightShapes` order, named with `_` for `.`.
 */
import { FunctionBuilder } from '../../ir/builder.js';
import type { Expr, Func, Var } from '../../ir/graph.js';
import { op } from '../../ir/op.js';
import type { Sym } from '../../ir/sym/sym.js';
import { tensorType } from '../../ir/types.js';
import { type DerainConfig, derainWeightShapes } from './derain-config.js';

export const derainParamName = (weight: string): string => weight.replace(/\./g, '_');

/** Largest height or width the compiled function accepts. */
export const DERAIN_MAX_SIDE = 4096;

const spatial = (v: Var): [Sym, Sym] => {
  const t = v.type;
  if (t.k !== 'tensor' || !t.shape) throw new Error(`'${v.name}' has no known shape`);
  return [t.shape[1]!, t.shape[2]!];
};

export function derainFunc(cfg: DerainConfig): Func {
  const [, , c2] = cfg.channels;
  const d = c2 / cfg.heads;
  const upper = { h: DERAIN_MAX_SIDE, w: DERAIN_MAX_SIDE, hr: DERAIN_MAX_SIDE, wr: DERAIN_MAX_SIDE };
  const b = new FunctionBuilder('main', { upper });
  const x = b.param('x', tensorType('f32', [1, 'h', 'w', 3]));
  const ref = cfg.reference ? b.param('ref', tensorType('f32', [1, 'hr', 'wr', 3])) : undefined;
  const p = new Map<string, Var>();
  for (const [name, shape] of derainWeightShapes(cfg))
    p.set(name, b.param(derainParamName(name), tensorType('f32', shape)));
  const w = (name: string): Var => p.get(name)!;
  const conv = (input: Expr, name: string, stride: number, out: string): Var =>
    b.emit(op.conv2d(input, w(`${name}.weight`), { stride, padding: 1, bias: w(`${name}.bias`) }), out);
  const gelu = (v: Expr, name: string): Var => b.emit(op.gelu(v), name);
  const linear = (input: Expr, name: string, out: string): Var =>
    b.emit(op.add(op.matmul(input, w(`${name}.weight`), { transB: true }), w(`${name}.bias`)), out);
  const norm = (input: Expr, name: string, out: string): Var =>
    b.emit(op.layerNorm(input, w(`${name}.weight`), w(`${name}.bias`), cfg.eps), out);

  const encode = (img: Var, tag: string): Var[] => {
    const s0 = gelu(conv(img, 'enc.conv0', 1, `${tag}_c0`), `${tag}_s0`);
    const s1 = gelu(conv(s0, 'enc.conv1', 2, `${tag}_c1`), `${tag}_s1`);
    const f = gelu(conv(s1, 'enc.conv2', 2, `${tag}_c2`), `${tag}_f`);
    return [s0, s1, f];
  };

  const out = b.dataflow(() => {
    const [s0, s1, fx] = encode(x, 'x');
    const fkv = ref ? encode(ref, 'r')[2]! : fx;
    const [h4, w4] = spatial(fx);
    const [hk, wk] = spatial(fkv);
    const heads = (v: Expr, rows: Sym, out: string) => b.emit(op.reshape(v, [rows, cfg.heads, d]), out);
    const q = heads(linear(norm(fx, 'attn.norm_q', 'q_in'), 'attn.q', 'q'), h4.mul(w4), 'q_heads');
    const kvIn = norm(fkv, 'attn.norm_kv', 'kv_in');
    const k = heads(linear(kvIn, 'attn.k', 'k'), hk.mul(wk), 'k_heads');
    const v = heads(linear(kvIn, 'attn.v', 'v'), hk.mul(wk), 'v_heads');
    const att = b.emit(op.reshape(op.attention(q, k, v, { causal: false }), [1, h4, w4, c2]), 'attended');
    const a = b.emit(op.add(fx, linear(att, 'attn.o', 'attn_out')), 'fused');
    const hidden = gelu(linear(norm(a, 'mlp.norm', 'mlp_in'), 'mlp.fc1', 'mlp_up'), 'mlp_act');
    const m = b.emit(op.add(a, linear(hidden, 'mlp.fc2', 'mlp_down')), 'mixed');

    const [h2, w2] = spatial(s1);
    const u1 = b.emit(op.concat([op.resizeNearest(m, h2, w2), s1], -1), 'up1');
    const d1 = gelu(conv(u1, 'dec.conv1', 1, 'd1_conv'), 'd1');
    const [h, wd] = spatial(s0);
    const u0 = b.emit(op.concat([op.resizeNearest(d1, h, wd), s0], -1), 'up0');
    const d0 = gelu(conv(u0, 'dec.conv0', 1, 'd0_conv'), 'd0');
    return b.emit(op.add(x, conv(d0, 'dec.out', 1, 'residual')), 'y');
  });
  return b.finish(out);
}
