/**
 * The BERT encoder as one IR function over a packed batch: the texts' tokens sit end to end in one
 * row of `n`, and an additive mask [n, n] (0 inside a text, a large negative across texts) keeps
 * each text's attention to itself — padding and an attention mask, without computing the pads.
 * Pooling is a matrix [b, n] (1/len over a text's tokens for mean pooling, 1 at its first token
 * for CLS), so one GEMM yields the b embeddings.
 *
 * Post-LN layers: x = LN(x + Attn(x)), x = LN(x + W2·GELU(W1·x)), GELU exact (erf), as BertModel.
 * Weights keep HF's `Linear` layout [out, in] (`transB` matmuls).
 */
import { FunctionBuilder } from '../../ir/builder.js';
import { type Expr, type Func, type IRModule, moduleOf, type Var } from '../../ir/graph.js';
import { callKernel, op } from '../../ir/op.js';
import { tensorType } from '../../ir/types.js';
import type { BertConfig } from './bert-config.js';
import { bertTensorShapes } from './bert-tensors.js';

export interface BertGraphOptions {
  /** Most tokens of one packed batch (upper bound of `n`). */
  readonly maxTokens: number;
  /** Most texts of one batch (upper bound of `b`). */
  readonly maxTexts: number;
}

/** What `mask` holds between tokens of different texts: exp underflows to exactly 0 after softmax's max shift. */
export const MASKED = -1e9;

/**
 * GELU with erf (Abramowitz & Stegun 7.1.26, |error| < 1.5e-7), written through the odd symmetry
 * x·erf(x/√2) = |x|·erf(|x|/√2) so no sign function is needed: 0.5·(x + |x|·(1 − P(t)·e^(−u²))),
 * u = |x|/√2, t = 1/(1 + p·u). The library's `gelu` is the tanh approximation, which BERT is not.
 */
export const ERF_GELU_EXPR = (() => {
  const u = '(abs(x0) * 0.7071067811865476)';
  const t = `recip(1.0 + 0.3275911 * ${u})`;
  const poly = `${t} * (0.254829592 + ${t} * (-0.284496736 + ${t} * (1.421413741 + ${t} * (-1.453152027 + ${t} * 1.061405429))))`;
  return `0.5 * (x0 + abs(x0) * (1.0 - ${poly} * exp(-(${u} * ${u}))))`;
})();

const paramName = (weight: string) => weight.replace(/[^A-Za-z0-9_]/g, '_');

/** Builds `encode(tokens, positions, types i32[n], mask f32[n, n], pool f32[b, n], …weights) → f32[b, hidden]`. */
export function bertEncodeFunc(cfg: BertConfig, o: BertGraphOptions): Func {
  const { hiddenSize: h, numHeads: H, headDim: D } = cfg;
  const b = new FunctionBuilder('encode', { upper: { n: o.maxTokens, b: o.maxTexts } });
  const tokens = b.param('tokens', tensorType('i32', ['n']));
  const positions = b.param('positions', tensorType('i32', ['n']));
  const types = b.param('types', tensorType('i32', ['n']));
  const mask = b.param('mask', tensorType('f32', ['n', 'n']));
  const pool = b.param('pool', tensorType('f32', ['b', 'n']));
  const w = new Map<string, Var>();
  for (const [name, shape] of bertTensorShapes(cfg)) w.set(name, b.param(paramName(name), tensorType('f32', shape)));
  const W = (name: string) => w.get(name)!;
  const linear = (x: Expr, prefix: string) =>
    op.add(op.matmul(x, W(`${prefix}.weight`), { transB: true }), W(`${prefix}.bias`));
  const norm = (x: Expr, prefix: string) =>
    op.layerNorm(x, W(`${prefix}.LayerNorm.weight`), W(`${prefix}.LayerNorm.bias`), cfg.layerNormEps);
  // [n, h] → [H, n, D]: one GEMM batch per head
  const heads = (x: Expr) => op.permuteDims(op.reshape(x, ['n', H, D]), [1, 0, 2]);

  let x = b.dataflow(() => {
    const e = op.add(
      op.add(
        op.embedding(W('embeddings.word_embeddings.weight'), tokens),
        op.embedding(W('embeddings.position_embeddings.weight'), positions),
      ),
      op.embedding(W('embeddings.token_type_embeddings.weight'), types),
    );
    return b.emit(norm(e, 'embeddings'), 'x0');
  });
  for (let l = 0; l < cfg.numLayers; l++) {
    const p = `encoder.layer.${l}.`;
    const [scores, v] = b.dataflow(() => {
      const q = b.emit(heads(linear(x, `${p}attention.self.query`)), `q${l}`);
      const k = b.emit(heads(linear(x, `${p}attention.self.key`)), `k${l}`);
      return [
        b.emit(op.scale(op.matmul(q, k, { transB: true }), 1 / Math.sqrt(D)), `s${l}`),
        b.emit(heads(linear(x, `${p}attention.self.value`)), `v${l}`),
      ];
    });
    // A block boundary: fusion would make the mask add a GEMM epilogue, but the batched GEMM
    // reads epilogue inputs only at its own batch shape, not broadcast over heads.
    x = b.dataflow(() => {
      const probs = b.emit(op.softmax(op.add(scores, mask)), `p${l}`);
      const ctx = op.reshape(op.permuteDims(op.matmul(probs, v), [1, 0, 2]), ['n', h]);
      const x1 = b.emit(norm(op.add(linear(ctx, `${p}attention.output.dense`), x), `${p}attention.output`), `a${l}`);
      const pre = b.emit(linear(x1, `${p}intermediate.dense`), `i${l}`);
      const act = b.emitCall(
        callKernel('elementwise', [pre], { expr: ERF_GELU_EXPR }),
        tensorType('f32', ['n', cfg.intermediateSize]),
        `g${l}`,
      );
      return b.emit(norm(op.add(linear(act, `${p}output.dense`), x1), `${p}output`), `x${l + 1}`);
    });
  }
  const pooled = b.dataflow(() => b.emit(op.matmul(pool, x), 'pooled'));
  return b.finish(pooled);
}

export function bertModule(cfg: BertConfig, o: BertGraphOptions): IRModule {
  return moduleOf([bertEncodeFunc(cfg, o)]);
}
