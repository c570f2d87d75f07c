/**
 * The projection fusions on the Llama decoder graph (passes/fuse-linear.ts, group-projections.ts):
 * after compiling, a layer's norms and RoPEs live inside its projections, Q/K/V are one
 * `linear_group` (folded into the `kv_attention_qkv` host call that attends over its outputs, see
 * fold-kv-projection.ts, so it appears there as the call's `group` attributes), gate and up one
 * paired `linear`; Q/K/V biases join the group as the parameters they are stored as. Numerics are the
 * float64 checks' business (test/models/builtin-model.test.ts and the ops' conformance cases).
 */
import { describe, expect, it } from 'vitest';
import { compileModule } from '../../src/compiler/compile.js';
import { type Call, allBindings } from '../../src/ir/graph.js';
import { llamaModule } from '../../src/models/llama/graph.js';
import { openLlamaModel } from '../../src/models/llama/llama-family.js';
import { builtinModelPath } from '../../src/models/load-model.js';

const config = (await openLlamaModel(builtinModelPath())).config;
const options = { maxTokens: 16, maxSeqs: 4, weightDtype: 'bf16', actDtype: 'f16' } as const;

function kernelCalls(cfg: typeof config, fuse = true): Call[] {
  const { module } = compileModule(llamaModule(cfg, options), { fuse });
  return allBindings(module.funcs.get('forward')!)
    .map((b) => b.value)
    .filter((v): v is Call => v.k === 'call' && v.kind === 'kernel');
}

const count = (calls: readonly Call[], callee: string) => calls.filter((c) => c.callee === callee).length;

/** The Q/K/V groups: each folded into the host call of its layer's attention, its attributes as `group`. */
function qkvGroups(cfg: typeof config): { attrs: Record<string, unknown>; args: Call['args'] }[] {
  const { module } = compileModule(llamaModule(cfg, options));
  return allBindings(module.funcs.get('forward')!)
    .map((b) => b.value)
    .filter((v): v is Call => v.k === 'call' && v.kind === 'host' && v.callee === 'kv_attention_qkv')
    .map((c) => ({ attrs: c.attrs.group as Record<string, unknown>, args: c.args }));
}

describe('projection fusions on the Llama graph', () => {
  it('folds norms and RoPE into the projections; Q/K/V one group, gate/up one paired call', () => {
    const calls = kernelCalls(config);
    const L = config.numLayers;
    expect(count(calls, 'rmsnorm'), 'every norm is a prologue').toBe(0);
    expect(count(calls, 'rope'), 'every RoPE is an epilogue').toBe(0);
    expect(count(calls, 'linear_group'), 'every group is folded into its attention call').toBe(0);
    const groups = qkvGroups(config);
    expect(groups).toHaveLength(L);
    for (const g of groups) expect(g.attrs).toMatchObject({ count: 3, roped: 2, normEps: config.rmsNormEps });
    const paired = calls.filter((c) => c.callee === 'linear' && c.attrs.paired === true);
    expect(paired).toHaveLength(L);
    for (const p of paired) expect(p.attrs.epilogue).toMatch(/silu\(x0\) \* x1/);
    // per layer (besides the group): o_proj, gate/up, down; then the LM head with the final norm
    expect(calls.filter((c) => c.callee === 'matmul' || c.callee.startsWith('linear'))).toHaveLength(3 * L + 1);
  });

  it('leaves the graph alone without fusion', () => {
    const calls = kernelCalls(config, false);
    expect(count(calls, 'linear') + count(calls, 'linear_group')).toBe(0);
    expect(count(calls, 'rmsnorm')).toBe(2 * config.numLayers + 1);
  });

  it('groups Q/K/V with their biases (Qwen2-style), read as stored: no per-step cast of a parameter', () => {
    const { module } = compileModule(llamaModule({ ...config, qkvBias: true }, options));
    const values = allBindings(module.funcs.get('forward')!).map((b) => b.value);
    const calls = values.filter((v): v is Call => v.k === 'call');
    const groups = qkvGroups({ ...config, qkvBias: true });
    expect(groups).toHaveLength(config.numLayers);
    for (const g of groups) {
      expect(g.attrs).toMatchObject({ count: 3, roped: 2, biased: true });
      const biases = g.args.slice(-3).map((a) => (a.k === 'var' ? a.name : '?'));
      expect(
        biases.every((n) => /_proj_bias$/.test(n)),
        biases.join(', '),
      ).toBe(true);
    }
    expect(
      calls.filter((c) => c.kind === 'tir'),
      'bias casts',
    ).toHaveLength(0);
  });
});
