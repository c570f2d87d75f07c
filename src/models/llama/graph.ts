/**
 * The Llama-family decoder as one IR function, compiled once for every step shape. A step feeds
 * `n` new tokens of `b` sequences (any mix of prefill chunks and decode tokens); the function
 * returns logits of each sequence's last new token. Attention goes through the host function
 * `kv_attention` (Relax's packed-function idea): it appends this layer's K/V to the paged cache and
 * runs the attention engine under the step's plan, both of which the graph never sees. The
 * compiler folds the layer's Q/K/V projection into that call (fold-kv-projection.ts), so the
 * runtime can store K and V into the pages from the projection's epilogue.
 *
 * Weights keep HF's `Linear` layout [out, in] (`transB` matmuls), so checkpoints load as stored.
 */
import { FunctionBuilder } from '../../ir/builder.js';
import { type Expr, type Func, type IRModule, moduleOf, type Var } from '../../ir/graph.js';
import { callHost, callKernel, op } from '../../ir/op.js';
import { tensorType } from '../../ir/types.js';
import type { DType } from '../../tensor/dtype.js';
import type { LlamaConfig } from './llama-config.js';
import type { QuantMatmulAttrs } from '../../quant/ops.js';
import { weightBytes } from '../../quant/formats.js';
import { declareLoraParams, type LoraGraphOptions } from './adapter-graph.js';
import type { AtomMatmulAttrs } from '../../quant/w4a4-ops.js';
import { w4a4WeightBytes } from '../../quant/w4a4-format.js';
import { w4a4DecoderLayer, w4a4ParamTypes } from './w4a4-graph.js';

export interface LlamaGraphOptions {
  /** Most tokens one step feeds (the compiled upper bound of `n`). */
  readonly maxTokens: number;
  /** Most sequences one step serves (upper bound of `b`). */
  readonly maxSeqs: number;
  /** dtype weights are stored in on the backend. */
  readonly weightDtype: DType;
  /** dtype of activations between kernels (f32: the most accurate; f16 halves traffic). */
  readonly actDtype: DType;
  /**
   * Projection weights kept in a quantized format as stored (checkpoint name → format and shape):
   * the parameter is their raw bytes (u8) and the projection a `quant_matmul`. The embedding table
   * is never one of them (the gather reads a float table).
   */
  readonly quantized?: ReadonlyMap<string, QuantMatmulAttrs>;
  /** Serve LoRA adapters (adapter-graph.ts); absent: the graph has no adapter input or dispatch. */
  readonly lora?: LoraGraphOptions;
  /**
   * Every projection in the Atom W4A4 layout (w4a4-source.ts; checkpoint name → its [n, k]): the
   * weight parameters are their bytes (u8), each layer's four channel gathers (i32) follow the
   * weights, and the layers run `atom_quantize` + `atom_matmul` (w4a4-graph.ts).
   */
  readonly w4a4?: ReadonlyMap<string, AtomMatmulAttrs>;
}

/** Parameter names in order after the step inputs; `weightNames` maps them to checkpoint tensors. */
export function weightNames(cfg: LlamaConfig): string[] {
  const names = ['model.embed_tokens.weight'];
  for (let l = 0; l < cfg.numLayers; l++) {
    const p = `model.layers.${l}.`;
    names.push(
      `${p}input_layernorm.weight`,
      `${p}self_attn.q_proj.weight`,
      `${p}self_attn.k_proj.weight`,
      `${p}self_attn.v_proj.weight`,
    );
    if (cfg.qkvBias) names.push(`${p}self_attn.q_proj.bias`, `${p}self_attn.k_proj.bias`, `${p}self_attn.v_proj.bias`);
    names.push(`${p}self_attn.o_proj.weight`);
    if (cfg.oBias) names.push(`${p}self_attn.o_proj.bias`);
    names.push(
      `${p}post_attention_layernorm.weight`,
      `${p}mlp.gate_proj.weight`,
      `${p}mlp.up_proj.weight`,
      `${p}mlp.down_proj.weight`,
    );
  }
  names.push('model.norm.weight');
  if (!cfg.tieWordEmbeddings) names.push('lm_head.weight');
  return names;
}

/** The shape of each weight, as the graph declares it. */
function weightShape(cfg: LlamaConfig, name: string): number[] {
  const hd = cfg.headDim;
  const q = cfg.numHeads * hd;
  const kv = cfg.numKvHeads * hd;
  const last = name.split('.').slice(-2).join('.');
  const table: Record<string, number[]> = {
    'embed_tokens.weight': [cfg.vocabSize, cfg.hiddenSize],
    'lm_head.weight': [cfg.vocabSize, cfg.hiddenSize],
    'input_layernorm.weight': [cfg.hiddenSize],
    'post_attention_layernorm.weight': [cfg.hiddenSize],
    'norm.weight': [cfg.hiddenSize],
    'q_proj.weight': [q, cfg.hiddenSize],
    'k_proj.weight': [kv, cfg.hiddenSize],
    'v_proj.weight': [kv, cfg.hiddenSize],
    'q_proj.bias': [q],
    'k_proj.bias': [kv],
    'v_proj.bias': [kv],
    'o_proj.weight': [cfg.hiddenSize, q],
    'o_proj.bias': [cfg.hiddenSize],
    'gate_proj.weight': [cfg.intermediateSize, cfg.hiddenSize],
    'up_proj.weight': [cfg.intermediateSize, cfg.hiddenSize],
    'down_proj.weight': [cfg.hiddenSize, cfg.intermediateSize],
  };
  const s = table[last];
  if (!s) throw new Error(`llama graph: no shape for weight '${name}'`);
  return s;
}

const paramName = (weight: string) => weight.replace(/^model\./, '').replace(/[^A-Za-z0-9_]/g, '_');

/** The pieces every layer and the LM head build with: the builder, weights by name, and projections. */
export interface GraphParts {
  readonly b: FunctionBuilder;
  readonly cfg: LlamaConfig;
  readonly positions: Var;
  readonly rope: ReturnType<typeof ropeAttrs>;
  readonly W: (name: string) => Var;
  /** x · Wᵀ in `outDtype` over `rows` rows. */
  readonly project: (x: Expr, weight: string, outDtype: DType, rows?: 'n' | 'b') => Expr;
  /** A projection in the activation dtype with its bias and, where adapters are served, its LoRA term. */
  readonly linear: (x: Expr, weight: string, bias?: string) => Expr;
}

function ropeAttrs(cfg: LlamaConfig) {
  return {
    theta: cfg.ropeTheta,
    ...(cfg.ropeScaling?.type === 'llama3'
      ? {
          scaling: {
            factor: cfg.ropeScaling.factor,
            lowFreqFactor: cfg.ropeScaling.lowFreqFactor,
            highFreqFactor: cfg.ropeScaling.highFreqFactor,
            originalMaxPositions: cfg.ropeScaling.originalMaxPositionEmbeddings,
          },
        }
      : {}),
  };
}

/**
 * Declares one parameter per weight, in `weightNames` order (a quantized weight is its raw bytes),
 * then, for a W4A4 model, the channel gathers (`w4a4ParamTypes`).
 */
function declareWeights(b: FunctionBuilder, cfg: LlamaConfig, o: LlamaGraphOptions): (name: string) => Var {
  const w = new Map<string, Var>();
  for (const name of weightNames(cfg)) {
    const q = o.quantized?.get(name);
    const a = o.w4a4?.get(name);
    const type = q
      ? tensorType('u8', [weightBytes(q.format, q.n, q.k)])
      : a
        ? tensorType('u8', [w4a4WeightBytes(a.n, a.k)])
        : tensorType(o.weightDtype, weightShape(cfg, name));
    w.set(name, b.param(paramName(name), type));
  }
  if (o.w4a4) for (const [name, type] of w4a4ParamTypes(cfg)) w.set(name, b.param(paramName(name), type));
  return (name: string) => w.get(name)!;
}

/**
 * Builds `forward(tokens i32[n], positions i32[n], last i32[b], …weights) → logits f32[b, vocab]`;
 * with `lora`, `forward(tokens, positions, last, adapter i32[n], …weights, …adapter stacks)`.
 */
export function llamaForwardFunc(cfg: LlamaConfig, o: LlamaGraphOptions): Func {
  const act = o.actDtype;
  const b = new FunctionBuilder('forward', { upper: { n: o.maxTokens, b: o.maxSeqs } });
  const tokens = b.param('tokens', tensorType('i32', ['n']));
  const positions = b.param('positions', tensorType('i32', ['n']));
  const last = b.param('last', tensorType('i32', ['b']));
  const adapter = o.lora ? b.param('adapter', tensorType('i32', ['n'])) : undefined;
  const W = declareWeights(b, cfg, o);
  // after the weights, so the weight parameters keep their positions
  const lora = o.lora ? declareLoraParams(b, cfg, o.lora, adapter!, act) : undefined;
  /**
   * A quantized weight takes `quant_matmul` (f32 in and out, so casts around it where activations
   * are f16); fuse-linear sees no `matmul` there and leaves it unfused.
   */
  const project = (x: Expr, weight: string, outDtype: DType, rows: 'n' | 'b' = 'n'): Expr => {
    const q = o.quantized?.get(weight);
    if (!q) return op.matmul(x, W(weight), { transB: true, outDtype });
    const y = b.emitCall(
      callKernel('quant_matmul', [act === 'f32' ? x : op.cast(x, 'f32'), W(weight)], { ...q }),
      tensorType('f32', [rows, q.n]),
    );
    return outDtype === 'f32' ? y : op.cast(y, outDtype);
  };
  const linear = (input: Expr, weight: string, bias?: string) => {
    // the LoRA term reads the input too: bound once, so both read one tensor
    const x = lora && input.k !== 'var' ? b.emit(input) : input;
    const y = project(x, weight, act);
    // biases are stored like weights; the cast fuses into the GEMM epilogue with the add
    const based = bias ? op.add(y, o.weightDtype === act ? W(bias) : op.cast(W(bias), act)) : y;
    return lora ? lora.apply(based, x, weight) : based;
  };
  const parts: GraphParts = { b, cfg, positions, rope: ropeAttrs(cfg), W, project, linear };

  let x = b.dataflow(() => b.emit(op.embedding(W('model.embed_tokens.weight'), tokens, { outDtype: act }), 'x0'));
  for (let l = 0; l < cfg.numLayers; l++)
    x = o.w4a4 ? w4a4DecoderLayer(parts, o.w4a4, x, l, act) : decoderLayer(parts, x, l, act);
  return b.finish(lmHead(parts, x, last));
}

/** One decoder layer: attention (through the paged KV cache) and the gated MLP, each with its residual. */
function decoderLayer(g: GraphParts, x: Var, l: number, act: DType): Var {
  const { b, cfg, W, linear } = g;
  const hd = cfg.headDim;
  const p = `model.layers.${l}.`;
  const bias = (n: string) => (cfg.qkvBias ? `${p}self_attn.${n}_proj.bias` : undefined);
  const [q, k, v] = b.dataflow(() => {
    const h = b.emit(op.rmsNorm(x, W(`${p}input_layernorm.weight`), cfg.rmsNormEps), `h${l}`);
    const heads = (proj: string, count: number) =>
      op.reshape(linear(h, `${p}self_attn.${proj}_proj.weight`, bias(proj)), ['n', count, hd]);
    return [
      b.emit(op.ropeWith(heads('q', cfg.numHeads), g.positions, g.rope), `q${l}`),
      b.emit(op.ropeWith(heads('k', cfg.numKvHeads), g.positions, g.rope), `k${l}`),
      b.emit(heads('v', cfg.numKvHeads), `v${l}`),
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
    const x1 = b.emit(
      op.add(x, linear(flat, `${p}self_attn.o_proj.weight`, cfg.oBias ? `${p}self_attn.o_proj.bias` : undefined)),
      `r${l}`,
    );
    const h2 = b.emit(op.rmsNorm(x1, W(`${p}post_attention_layernorm.weight`), cfg.rmsNormEps), `m${l}`);
    const gated = op.multiply(op.silu(linear(h2, `${p}mlp.gate_proj.weight`)), linear(h2, `${p}mlp.up_proj.weight`));
    return b.emit(op.add(x1, linear(gated, `${p}mlp.down_proj.weight`)), `x${l + 1}`);
  });
}

/** The final norm and LM head over each sequence's last row only (f32 logits). */
function lmHead(g: GraphParts, x: Var, last: Var): Var {
  const { b, cfg } = g;
  return b.dataflow(() => {
    const lastRows = op.embedding(x, last);
    const h = op.rmsNorm(lastRows, g.W('model.norm.weight'), cfg.rmsNormEps);
    const head = cfg.tieWordEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight';
    return b.emit(g.project(h, head, 'f32', 'b'), 'logits');
  });
}

export function llamaModule(cfg: LlamaConfig, o: LlamaGraphOptions): IRModule {
  return moduleOf([llamaForwardFunc(cfg, o)]);
}

export { paramName };
