/**
 * The tiny Restormer-style base de-rainer of scripts/derain/models.py (`TinyRestormer`) as one IR
 * function, NHWC with symbolic `h`, `w` (both even: the host reflect-pads odd sizes by one pixel,
 * as PyTorch's `pad_to` does, and crops after). Blocks are MDTA (attention across channels:
 * per head a c′ × c′ map from L2-normalised queries and keys over all pixels, scaled by a learnt
 * temperature) and GDFN (GELU-gated depthwise feed-forward), each behind a channel layer norm.
 * Two levels: embed → block → stride-2 conv → two blocks → 1×1 conv + pixel shuffle → concat with
 * the first level → 1×1 conv → block → conv → residual over the input.
 */
import { FunctionBuilder } from '../../ir/builder.js';
import type { Expr, Func, Var } from '../../ir/graph.js';
import { op } from '../../ir/op.js';
import type { Sym } from '../../ir/sym/sym.js';
import { tensorType } from '../../ir/types.js';
import { DERAIN_MAX_SIDE, derainParamName } from './graph.js';

export interface RestormerConfig {
  readonly channels: number;
  /** Heads at the full and the half resolution. */
  readonly heads: readonly [number, number];
}

export const DEFAULT_RESTORMER_CONFIG: RestormerConfig = { channels: 24, heads: [1, 2] };

function blockShapes(prefix: string, c: number, heads: number): [string, number[]][] {
  const conv = (name: string, o: number, i: number, k: number): [string, number[]][] => [
    [`${prefix}.${name}.weight`, [o, i, k, k]],
    [`${prefix}.${name}.bias`, [o]],
  ];
  return [
    [`${prefix}.n1.norm.weight`, [c]],
    [`${prefix}.n1.norm.bias`, [c]],
    [`${prefix}.att.temperature`, [heads, 1, 1]],
    ...conv('att.qkv', 3 * c, c, 1),
    ...conv('att.dw', 3 * c, 1, 3),
    ...conv('att.proj', c, c, 1),
    [`${prefix}.n2.norm.weight`, [c]],
    [`${prefix}.n2.norm.bias`, [c]],
    ...conv('ffn.inp', 4 * c, c, 1),
    ...conv('ffn.dw', 4 * c, 1, 3),
    ...conv('ffn.out', c, 2 * c, 1),
  ];
}

export function restormerWeightShapes(cfg: RestormerConfig): [string, number[]][] {
  const c = cfg.channels;
  const conv = (name: string, o: number, i: number, k: number): [string, number[]][] => [
    [`${name}.weight`, [o, i, k, k]],
    [`${name}.bias`, [o]],
  ];
  return [
    ...conv('embed', c, 3, 3),
    ...blockShapes('enc1', c, cfg.heads[0]),
    ...conv('down', 2 * c, c, 3),
    ...blockShapes('mid.0', 2 * c, cfg.heads[1]),
    ...blockShapes('mid.1', 2 * c, cfg.heads[1]),
    ...conv('up.0', 4 * c, 2 * c, 1),
    ...conv('fuse', c, 2 * c, 1),
    ...blockShapes('dec1', c, cfg.heads[0]),
    ...conv('out', 3, c, 3),
  ];
}

export function restormerMetadata(cfg: RestormerConfig): Record<string, string> {
  return { format: 'tessera-restormer', channels: String(cfg.channels), heads: cfg.heads.join(',') };
}

export function restormerConfigFromMetadata(meta: Readonly<Record<string, string>>, where: string): RestormerConfig {
  if (meta.format !== 'tessera-restormer')
    throw new Error(`${where}: metadata 'format' is '${meta.format}', expected 'tessera-restormer'`);
  const heads = (meta.heads ?? '').split(',').map(Number);
  const cfg = { channels: Number(meta.channels), heads: heads as [number, number] };
  if (heads.length !== 2 || ![cfg.channels, ...heads].every((v) => Number.isInteger(v) && v >= 1))
    throw new Error(`${where}: metadata channels and heads (two numbers) must be positive integers`);
  return cfg;
}

const dims = (v: Var): readonly Sym[] => {
  if (v.type.k !== 'tensor' || !v.type.shape) throw new Error(`'${v.name}' has no known shape`);
  return v.type.shape;
};

export function restormerFunc(cfg: RestormerConfig): Func {
  const c = cfg.channels;
  const b = new FunctionBuilder('main', { upper: { h: DERAIN_MAX_SIDE, w: DERAIN_MAX_SIDE } });
  const x = b.param('x', tensorType('f32', [1, 'h', 'w', 3]));
  const p = new Map<string, Var>();
  for (const [name, shape] of restormerWeightShapes(cfg))
    p.set(name, b.param(derainParamName(name), tensorType('f32', shape)));
  const w = (n: string) => p.get(n)!;
  const conv = (input: Expr, name: string, attrs: { stride?: number; padding?: number; groups?: number } = {}) =>
    op.conv2d(input, w(`${name}.weight`), { ...attrs, bias: w(`${name}.bias`) });
  const slice = (v: Expr, from: number, to: number) => op.slice(v, 3, from, to);
  let n = 0;
  const name = (s: string) => `${s}_${n++}`;

  /** MDTA on [1, H, W, C]: attention over channels within each head. */
  const mdta = (v: Var, prefix: string, ch: number, heads: number): Var => {
    const [, hh, ww] = dims(v);
    const hw = hh!.mul(ww!);
    const d = ch / heads;
    const qkv = b.emit(conv(conv(v, `${prefix}.qkv`), `${prefix}.dw`, { padding: 1, groups: 3 * ch }), name('qkv'));
    // [1, H, W, C] → [heads, c′, H·W]: channel head·c′ + i, pixels row-major, as PyTorch's reshape of NCHW
    const split = (k: number) =>
      b.emit(op.permuteDims(op.reshape(slice(qkv, k * ch, (k + 1) * ch), [hw, heads, d]), [1, 2, 0]), name('heads'));
    const unit = (t: Var) => b.emit(op.divide(t, op.sqrt(op.sum(op.multiply(t, t), [2], true))), name('unit'));
    // the temperature scales the queries rather than the scores (the same product): a [heads, 1, 1]
    // factor after the batched GEMM would become an epilogue input the GEMM kernel cannot read
    const q = b.emit(op.multiply(unit(split(0)), w(`${prefix}.temperature`)), name('q'));
    const k = unit(split(1));
    const vv = split(2);
    const att = b.emit(op.softmax(op.matmul(q, k, { transB: true })), name('att'));
    const mixed = op.reshape(op.permuteDims(op.matmul(att, vv), [2, 0, 1]), [1, hh!, ww!, ch]);
    return b.emit(conv(mixed, `${prefix}.proj`), name('mdta'));
  };

  const gdfn = (v: Var, prefix: string, ch: number): Var => {
    const u = b.emit(conv(conv(v, `${prefix}.inp`), `${prefix}.dw`, { padding: 1, groups: 4 * ch }), name('gdfn_in'));
    return b.emit(
      conv(op.multiply(op.gelu(slice(u, 0, 2 * ch)), slice(u, 2 * ch, 4 * ch)), `${prefix}.out`),
      name('gdfn'),
    );
  };

  const block = (v: Var, prefix: string, ch: number, heads: number): Var => {
    const norm = (t: Var, which: string) =>
      b.emit(
        op.layerNorm(t, w(`${prefix}.${which}.norm.weight`), w(`${prefix}.${which}.norm.bias`), 1e-5),
        name('norm'),
      );
    const a = b.emit(op.add(v, mdta(norm(v, 'n1'), `${prefix}.att`, ch, heads)), name('block_att'));
    return b.emit(op.add(a, gdfn(norm(a, 'n2'), `${prefix}.ffn`, ch)), name('block'));
  };

  const out = b.dataflow(() => {
    const e = block(b.emit(conv(x, 'embed', { padding: 1 }), 'embedded'), 'enc1', c, cfg.heads[0]);
    let m = b.emit(conv(e, 'down', { stride: 2, padding: 1 }), 'down');
    m = block(block(m, 'mid.0', 2 * c, cfg.heads[1]), 'mid.1', 2 * c, cfg.heads[1]);
    // pixel shuffle ×2, NHWC: channel k·4 + a·2 + b of (i, j) goes to channel k of (2i + a, 2j + b)
    const [, h2, w2] = dims(m);
    const u = op.reshape(conv(m, 'up.0'), [1, h2!, w2!, c, 2, 2]);
    const shuffled = b.emit(
      op.reshape(op.permuteDims(u, [0, 1, 4, 2, 5, 3]), [1, h2!.mul(2), w2!.mul(2), c]),
      'shuffled',
    );
    // 2·(⌊(h − 1)/2⌋ + 1) = h holds for the even sizes the host pads to; checked at run time
    const up = b.matchCast(shuffled, tensorType('f32', [1, 'h', 'w', c]), 'up');
    const d = block(b.emit(conv(op.concat([up, e], -1), 'fuse'), 'fused'), 'dec1', c, cfg.heads[0]);
    return b.emit(op.add(x, conv(d, 'out', { padding: 1 })), 'y');
  });
  return b.finish(out);
}
