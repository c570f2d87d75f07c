import { describe, expect, it } from 'vitest';
import { Command } from 'commander';
import { compileCommandText, registerCompileCommands } from '../../src/cli/compile.js';

describe('tessera compile', () => {
  it('prints the IR after every pass for the llama block', () => {
    const text = compileCommandText('llama-block', { print: true });
    for (const pass of ['input', 'normalize', 'legalize', 'fuse', 'dead-code', 'schedule', 'plan-memory'])
      expect(text).toContain(`;; ==== after ${pass} ====`);
    expect(text).toMatch(/call_kernel\("attention", q, k, v\) \{"causal":true\}/);
    // SwiGLU: silu·up rides the gate GEMM's epilogue (the up projection as extra input x1)
    expect(text).toMatch(
      /g: Tensor\(\(n, 688\), f32\) = call_kernel\("matmul", h2, w_gate, lv\d+\) \{"epilogue":"\(silu\(x0\) \* x1\)"\}/,
    );
    expect(text).toContain('y: Tensor((n, 256), f32) = call_kernel("matmul", g, w_down, x1) {"epilogue":"(x1 + x0)"}');
    expect(text).toMatch(/@main: \d+ library kernel call\(s\)/);
  });

  it('prints one pass, WGSL, and reports bad arguments clearly', () => {
    const one = compileCommandText('mlp', { pass: 'fuse', fuse: true });
    expect(one.match(/;; ==== after/g)).toHaveLength(1);
    expect(compileCommandText('mlp', { fuse: false, wgsl: true })).toContain('@compute @workgroup_size(');
    expect(compileCommandText('mlp', { fuse: false, js: true })).toMatch(/JavaScript of @\w+[\s\S]*for \(let v_i0 = 0/);
    expect(() => compileCommandText('gpt5')).toThrow(
      /unknown model 'gpt5' \(built-in: mlp, llama-block, 'builtin', or an HF model folder\)/,
    );
    expect(() => compileCommandText('mlp', { pass: 'magic' })).toThrow(/unknown pass 'magic'/);
  });

  it("compiles a checkpoint's decoder graph ('builtin' or a folder): one attention host call per layer", () => {
    const text = compileCommandText('builtin');
    // one reshape per layer (attention back to rows) is a view, not a copy; q, k and v reach the
    // attention call as the inputs of their projection, folded into it (fold-kv-projection.ts)
    expect(text).toMatch(
      /@forward: \d+ library kernel call\(s\), 0 tensor program call\(s\), 6 host call\(s\), 6 view\(s\)/,
    );
    expect(compileCommandText('builtin', { pass: 'dead-code' })).toContain('call_host("kv_attention_qkv"');
    expect(compileCommandText('builtin', { pass: 'fuse' })).toContain('call_host("kv_attention"');
  });

  it('registers a commander command', () => {
    const program = new Command();
    registerCompileCommands(program);
    expect(program.commands.map((c) => c.name())).toContain('compile');
  });
});
