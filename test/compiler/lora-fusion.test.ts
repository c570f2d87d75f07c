/**
 * The projection fusions on the Llama graph with LoRA adapters (adapter-graph.ts, passes
 * fuse-linear.ts, group-lora-deltas.ts, group-projections.ts, param-casts.ts): every layer keeps
 * the fused projections of the graph without adapters — Q/K/V one group folded into
 * `kv_attention_qkv` (with the LoRA terms as its per-row `delta` inputs), gate/up one paired
 * `linear`, o/down their residual epilogue — and adds one `lora_delta` per group of projections of
 * the same rows, their RMSNorm folded in, with no cast or rmsnorm left between. Numerics are
 * test/lora/llama-lora-runner.test.ts's business.
 */
import { describe, expect, it } from 'vitest';
import { compileModule } from '../../src/compiler/compile.js';
import { type Call, allBindings } from '../../src/ir/graph.js';
import { llamaModule } from '../../src/models/llama/graph.js';
import { openLlamaModel } from '../../src/models/llama/llama-family.js';
import { builtinModelPath } from '../../src/models/load-model.js';

const config = (await openLlamaModel(builtinModelPath())).config;
const L = config.numLayers;

function calls(actDtype: 'f16' | 'f32', form?: 'bgmv'): Call[] {
  const lora = { slots: 4, rmax: 8, ...(form ? { form } : {}) };
  const module = compileModule(
    llamaModule(config, { maxTokens: 16, maxSeqs: 4, weightDtype: 'bf16', actDtype, lora }),
  ).module;
  return allBindings(module.funcs.get('forward')!)
    .map((b) => b.value)
    .filter((v): v is Call => v.k === 'call');
}

const named = (cs: readonly Call[], callee: string) => cs.filter((c) => c.callee === callee);

describe('LoRA graphs keep the fused projections', () => {
  for (const act of ['f16', 'f32'] as const)
    it(`${act} activations: one lora_delta per projection group beside the fused kernels`, () => {
      const cs = calls(act);
      const qkv = named(cs, 'kv_attention_qkv');
      expect(qkv).toHaveLength(L);
      for (const c of qkv) expect((c.attrs.group as { delta?: boolean }).delta).toBe(true);
      const deltas = named(cs, 'lora_delta');
      // Q/K/V (3, normed), o (1), gate/up (2, normed), down (1) per layer
      expect(deltas.map((c) => c.attrs.count).sort()).toEqual(
        Array.from({ length: L }, () => [1, 1, 2, 3])
          .flat()
          .sort(),
      );
      expect(deltas.filter((c) => c.attrs.normEps !== undefined)).toHaveLength(2 * L);
      const paired = named(cs, 'linear').filter((c) => c.attrs.paired);
      expect(paired).toHaveLength(L);
      for (const c of paired) expect(c.attrs.epilogue).toBe('(silu((x0 + x2)) * ((x1 + x3)))');
      expect(named(cs, 'rmsnorm'), 'every layer norm folded').toHaveLength(0);
      expect(named(cs, 'lora_bgmv')).toHaveLength(0);
      expect(
        cs.filter((c) => c.kind === 'tir'),
        'no cast or elementwise pass left',
      ).toHaveLength(0);
    });

  it("form 'bgmv' keeps the unfused path: lora_bgmv after every projection, Q/K/V unfolded", () => {
    const cs = calls('f16', 'bgmv');
    expect(named(cs, 'lora_bgmv')).toHaveLength(7 * L);
    expect(named(cs, 'kv_attention_qkv')).toHaveLength(0);
    expect(named(cs, 'lora_delta')).toHaveLength(0);
  });
});
