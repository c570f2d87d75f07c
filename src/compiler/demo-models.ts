/**
 * Built-in demo models for `tessera compile --print`, the end-to-end tests and the fusion bench:
 * a two-layer MLP and a Llama-style transformer block, both over a symbolic token count `n`.
 */
import { FunctionBuilder } from '../ir/builder.js';
import { type Func, type IRModule, moduleOf } from '../ir/graph.js';
import { op } from '../ir/op.js';
import { tensorType } from '../ir/types.js';
import type { DType } from '../tensor/dtype.js';

export interface MlpDims {
  readonly dIn: number;
  readonly hidden: number;
  readonly dOut: number;
  readonly maxN?: number;
  readonly dtype?: DType;
}

/** y = relu(x·W1 + b1)·W2 + b2 over x [n, dIn]. */
export function mlpFunc(d: MlpDims): Func {
  const dt = d.dtype ?? 'f32';
  const b = new FunctionBuilder('main', { upper: { n: d.maxN ?? 4096 } });
  const x = b.param('x', tensorType(dt, ['n', d.dIn]));
  const w1 = b.param('w1', tensorType(dt, [d.dIn, d.hidden]));
  const b1 = b.param('b1', tensorType(dt, [d.hidden]));
  const w2 = b.param('w2', tensorType(dt, [d.hidden, d.dOut]));
  const b2 = b.param('b2', tensorType(dt, [d.dOut]));
  const y = b.dataflow(() => {
    const h = b.emit(op.relu(op.add(op.matmul(x, w1), b1)), 'h');
    return b.emit(op.add(op.matmul(h, w2), b2), 'y');
  });
  return b.finish(y);
}

export interface BlockDims {
  readonly hidden: number;
  readonly heads: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly ffn: number;
  readonly maxN?: number;
  readonly eps?: number;
  readonly theta?: number;
  readonly dtype?: DType;
}

export const BLOCK_PARAMS = ['x', 'attn_norm', 'wq', 'wk', 'wv', 'wo', 'mlp_norm', 'w_gate', 'w_up', 'w_down'] as const;

/**
 * One Llama decoder block over n tokens (prefill, no KV cache): pre-norm attention with RoPE and
 * grouped-query attention through the library `attention` kernel, then a SwiGLU MLP, both with
 * residuals. Weights are [in, out].
 */
export function llamaBlockFunc(d: BlockDims): Func {
  const dt = d.dtype ?? 'f32';
  const eps = d.eps ?? 1e-5;
  const theta = d.theta ?? 10000;
  const b = new FunctionBuilder('main', { upper: { n: d.maxN ?? 4096 } });
  const x = b.param('x', tensorType(dt, ['n', d.hidden]));
  const attnNorm = b.param('attn_norm', tensorType(dt, [d.hidden]));
  const wq = b.param('wq', tensorType(dt, [d.hidden, d.heads * d.headDim]));
  const wk = b.param('wk', tensorType(dt, [d.hidden, d.kvHeads * d.headDim]));
  const wv = b.param('wv', tensorType(dt, [d.hidden, d.kvHeads * d.headDim]));
  const wo = b.param('wo', tensorType(dt, [d.heads * d.headDim, d.hidden]));
  const mlpNorm = b.param('mlp_norm', tensorType(dt, [d.hidden]));
  const wGate = b.param('w_gate', tensorType(dt, [d.hidden, d.ffn]));
  const wUp = b.param('w_up', tensorType(dt, [d.hidden, d.ffn]));
  const wDown = b.param('w_down', tensorType(dt, [d.ffn, d.hidden]));
  const out = b.dataflow(() => {
    const pos = b.emit(op.arange('n'), 'pos');
    const h = b.emit(op.rmsNorm(x, attnNorm, eps), 'h');
    const q = b.emit(op.rope(op.reshape(op.matmul(h, wq), ['n', d.heads, d.headDim]), pos, theta), 'q');
    const k = b.emit(op.rope(op.reshape(op.matmul(h, wk), ['n', d.kvHeads, d.headDim]), pos, theta), 'k');
    const v = b.emit(op.reshape(op.matmul(h, wv), ['n', d.kvHeads, d.headDim]), 'v');
    const o = b.emit(op.reshape(op.attention(q, k, v, { causal: true }), ['n', d.heads * d.headDim]), 'o');
    const x1 = b.emit(op.add(x, op.matmul(o, wo)), 'x1');
    const h2 = b.emit(op.rmsNorm(x1, mlpNorm, eps), 'h2');
    const g = b.emit(op.multiply(op.silu(op.matmul(h2, wGate)), op.matmul(h2, wUp)), 'g');
    return b.emit(op.add(x1, op.matmul(g, wDown)), 'y');
  });
  return b.finish(out);
}

export const DEMO_MODELS: Readonly<Record<string, () => IRModule>> = {
  mlp: () => moduleOf([mlpFunc({ dIn: 64, hidden: 256, dOut: 32 })]),
  'llama-block': () => moduleOf([llamaBlockFunc({ hidden: 256, heads: 8, kvHeads: 2, headDim: 32, ffn: 688 })]),
};
