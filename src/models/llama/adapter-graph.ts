/**
 * The LoRA half of the Llama graph: the adapter stacks as parameters and each adapted projection's
 * LoRA term. Every row names its adapter slot in the step input `adapter` (−1: none), so one
 * dispatch per projection group serves a batch of many adapters.
 *
 * The term is a `lora_delta` (src/lora/lora-delta.ts) of the projection's input, added to its
 * output: `y = x·Wᵀ (+ bias) + d`. The compiler folds the add into the projection's epilogue, the
 * input's RMSNorm into the delta, and groups the deltas of projections of the same rows
 * (src/compiler/passes/group-lora-deltas.ts), so Q/K/V keep their one fused kernel (RoPE and the
 * page store after the add), gate/up their paired GEMV and o/down their residual epilogue, with
 * one LoRA dispatch per group beside them. `form: 'bgmv'` adds `lora_bgmv` after each projection
 * instead (two dispatches per projection, and no Q/K/V fusion): the unfused path tests compare to.
 *
 * `lora_delta` and `lora_bgmv` serve prefill rows too: a prefill chunk is a run of rows with one
 * slot (`lora_sgmv`'s segments pay off only once its schedule loads a slot's tile once per segment).
 *
 * The stacks are f16 where the device has f16 (loadLlama's default; f32 elsewhere): 64 rank-64
 * adapters of an 8B model are 43 GB as f32 against 16 GB of base weights, and a step's LoRA cost is
 * the bytes of A and B it reads. The kernels load either dtype as f32 and accumulate in f32.
 */
import type { FunctionBuilder } from '../../ir/builder.js';
import { type Expr, type Var, callOf } from '../../ir/graph.js';
import { op } from '../../ir/op.js';
import { tensorType } from '../../ir/types.js';
import { LORA_MODULES, type LoraModule, llamaLoraShapes } from '../../lora/modules.js';
import type { DType } from '../../tensor/dtype.js';
import type { LlamaConfig } from './llama-config.js';

export interface LoraGraphOptions {
  /** Device slots: adapters resident at once. */
  readonly slots: number;
  /** Highest rank a slot holds. */
  readonly rmax: number;
  /** How the graph adds the LoRA term (default `delta`, which the compiler fuses; see above). */
  readonly form?: 'delta' | 'bgmv';
  /** Element type of the A and B stacks (default f32 here; loadLlama picks f16 where the device has it). */
  readonly dtype?: 'f32' | 'f16';
}

/** One (layer, projection)'s stacks, in parameter order: A [slots, rmax, in], B [slots, out, rmax], rank i32[slots]. */
export interface LoraSite {
  readonly layer: number;
  readonly module: LoraModule;
}

/** The stacked sites in parameter order (after `lora_scale` f32[slots]). */
export function loraSites(cfg: LlamaConfig): LoraSite[] {
  const out: LoraSite[] = [];
  for (let layer = 0; layer < cfg.numLayers; layer++) for (const module of LORA_MODULES) out.push({ layer, module });
  return out;
}

export function loraShapesOf(cfg: LlamaConfig) {
  return llamaLoraShapes({
    numLayers: cfg.numLayers,
    hiddenSize: cfg.hiddenSize,
    intermediateSize: cfg.intermediateSize,
    numHeads: cfg.numHeads,
    numKvHeads: cfg.numKvHeads,
    headDim: cfg.headDim,
  });
}

const SITE = /^model\.layers\.(\d+)\.(?:self_attn|mlp)\.(\w+)\.weight$/;

export function declareLoraParams(b: FunctionBuilder, cfg: LlamaConfig, o: LoraGraphOptions, adapter: Var, act: DType) {
  const shapes = loraShapesOf(cfg);
  const scale = b.param('lora_scale', tensorType('f32', [o.slots]));
  const w = o.dtype ?? 'f32';
  const stacks = new Map<string, { a: Var; b: Var; rank: Var; out: number }>();
  for (const { layer, module } of loraSites(cfg)) {
    const [out, inn] = shapes.modules[module];
    const key = `${layer}.${module}`;
    stacks.set(key, {
      a: b.param(`lora_${layer}_${module}_A`, tensorType(w, [o.slots, o.rmax, inn])),
      b: b.param(`lora_${layer}_${module}_B`, tensorType(w, [o.slots, out, o.rmax])),
      rank: b.param(`lora_${layer}_${module}_rank`, tensorType('i32', [o.slots])),
      out,
    });
  }
  return {
    /** y + each row's adapter term, where `weight` is a projection adapters may target; else y. */
    apply(y: Expr, x: Expr, weight: string): Expr {
      const m = SITE.exec(weight);
      const s = m ? stacks.get(`${m[1]}.${m[2]}`) : undefined;
      if (!s) return y;
      // library kernels with no graph-level op: bound here with their destination types
      if (o.form === 'bgmv') {
        const call = callOf('kernel', 'lora_bgmv', [y, x, s.a, s.b, scale, s.rank, adapter], {});
        return b.emitCall(call, tensorType(act, ['n', s.out]));
      }
      const call = callOf('kernel', 'lora_delta', [x, adapter, scale, s.a, s.b, s.rank], { count: 1 });
      const d = b.emitCall(call, tensorType('f32', ['n', s.out]));
      return op.add(y, act === 'f32' ? d : op.cast(d, act));
    },
  };
}
