/**
 * The decoder layer of a W4A4 (Atom) model: each activation site is quantized once per token by
 * `atom_quantize`, which also computes the op that produces the activation and gathers its
 * channels into the calibrated order — RMSNorm for `attn_in` and `mlp_in`, SiLU·mul for
 * `down_in`, nothing for `o_in` (the attention output) — and every projection is an
 * `atom_matmul` over the stored W4A4 bytes (src/quant/w4a4-ops.ts). Both ops take and give f32,
 * so f16 activations are cast around them. Attention, RoPE, the residuals and the LM head are as
 * in the float layer (graph.ts).
 */
import type { Expr, Var } from '../../ir/graph.js';
import { callHost, callKernel, op } from '../../ir/op.js';
import { type TensorType, type Type, tensorType, tupleType } from '../../ir/types.js';
import { ATOM_GROUP } from '../../quant/w4a4-format.js';
import type { AtomMatmulAttrs, AtomPrologue } from '../../quant/w4a4-ops.js';
import type { DType } from '../../tensor/dtype.js';
import type { GraphParts } from './graph.js';
import type { LlamaConfig } from './llama-config.js';
import { ATOM_SITES, type AtomSite, permTensorName, siteProjections, siteWidth } from './w4a4-source.js';

/** The channel-gather parameters a W4A4 graph declares after the weights, in order. */
export function w4a4ParamTypes(cfg: LlamaConfig): [string, Type][] {
  const out: [string, Type][] = [];
  for (let l = 0; l < cfg.numLayers; l++)
    for (const site of ATOM_SITES) out.push([permTensorName(l, site), tensorType('i32', [siteWidth(cfg, site)])]);
  return out;
}

export function w4a4DecoderLayer(
  g: GraphParts,
  w4a4: ReadonlyMap<string, AtomMatmulAttrs>,
  x: Var,
  l: number,
  act: DType,
): Var {
  const { b, cfg, W } = g;
  const hd = cfg.headDim;
  const p = `model.layers.${l}.`;
  const f32 = (e: Expr) => (act === 'f32' ? e : op.cast(e, 'f32'));
  const toAct = (e: Expr) => (act === 'f32' ? e : op.cast(e, act));
  /** The site's activation quantized (codes, scales), its producer fused in as `prologue`. */
  const quantize = (site: AtomSite, prologue: AtomPrologue, inputs: Expr[]): [Expr, Expr] => {
    const k = siteWidth(cfg, site);
    const t = b.emitCall(
      callKernel('atom_quantize', [...inputs, W(permTensorName(l, site))], {
        prologue,
        reordered: true,
        ...(prologue === 'rmsnorm' ? { eps: cfg.rmsNormEps } : {}),
      }),
      tupleType([tensorType('i8', ['n', k]), tensorType('f32', ['n', k / ATOM_GROUP])]),
      `aq${l}_${site}`,
    );
    return [
      { k: 'get', tuple: t, index: 0 },
      { k: 'get', tuple: t, index: 1 },
    ];
  };
  /** The projections of one site, f32 [n, N] each. */
  const project = (site: AtomSite, qx: [Expr, Expr]): Var[] =>
    siteProjections(l, site).map((name) => {
      const a = w4a4.get(name)!;
      return b.emitCall(callKernel('atom_matmul', [...qx, W(name)], { n: a.n, k: a.k }), tensorType('f32', ['n', a.n]));
    });
  // norm weights are stored in the weight dtype
  const norm = (name: string) => {
    const w = W(`${p}${name}.weight`);
    return (w.type as TensorType).dtype === 'f32' ? w : op.cast(w, 'f32');
  };

  const [q, k, v] = b.dataflow(() => {
    const qx = quantize('attn_in', 'rmsnorm', [f32(x), norm('input_layernorm')]);
    const [qp, kp, vp] = project('attn_in', qx) as [Var, Var, Var];
    const heads = (y: Expr, count: number) => op.reshape(toAct(y), ['n', count, hd]);
    return [
      b.emit(op.ropeWith(heads(qp, cfg.numHeads), g.positions, g.rope), `q${l}`),
      b.emit(op.ropeWith(heads(kp, cfg.numKvHeads), g.positions, g.rope), `k${l}`),
      b.emit(heads(vp, cfg.numKvHeads), `v${l}`),
    ];
  });
  // impure: appends to layer l's KV pages, then attends over them
  const attn = b.emitCall(
    callHost('kv_attention', [q, k, v], { layer: l }),
    tensorType(act, ['n', cfg.numHeads, hd]),
    `attn${l}`,
  );
  return b.dataflow(() => {
    const flat = op.reshape(attn, ['n', cfg.numHeads * hd]);
    const [o] = project('o_in', quantize('o_in', 'none', [f32(flat)]));
    const x1 = b.emit(op.add(x, toAct(o!)), `r${l}`);
    const [gate, up] = project('mlp_in', quantize('mlp_in', 'rmsnorm', [f32(x1), norm('post_attention_layernorm')]));
    const [down] = project('down_in', quantize('down_in', 'silu_mul', [gate!, up!]));
    return b.emit(op.add(x1, toAct(down!)), `x${l + 1}`);
  });
}
