import { describe, expect, it } from 'vitest';
import { Command } from 'commander';
import { compileCommandText, registerCompileCommands } from '../../src/cli/compile.js';

describe('tessera compile', () => {
  it('prints the IR after every pass for the llama block', () => {
    const text = compileCommandText('llama-block', { print: true });
    for (const pass of ['input', 'normalize', 'legalize', 'fuse', 'dead-code', 'schedule', 'plan-memory']) expect(text).toContain(`;; ==== after ${pass} ====`);
    expect(text).toMatch(/call_kernel\("attention", q, k, v\) \{"causal":true\}/);
    // SwiGLU: silu rides the gate GEMM, the product rides the up GEMM (reading the gate as x1)
    expect(text).toContain('call_kernel("matmul", h2, w_gate) {"epilogue":"silu(x0)"}');
    expect(text).toMatch(/call_kernel\("matmul", h2, w_up, lv\d+\) \{"epilogue":"\(x1 \* x0\)"\}/);
    expect(text).toMatch(/@main: \d+ library kernel call\(s\)/);
  });

  it('prints one pass, WGSL, and reports bad arguments clearly', () => {
    const one = compileCommandText('mlp', { pass: 'fuse', fuse: true });
    expect(one.match(/;; ==== after/g)).toHaveLength(1);
    expect(compileCommandText('mlp', { fuse: false, wgsl: true })).toContain('@compute @workgroup_size(');
    expect(() => compileCommandText('gpt5')).toThrow(/unknown model 'gpt5' \(built-in: mlp, llama-block\)/);
    expect(() => compileCommandText('mlp', { pass: 'magic' })).toThrow(/unknown pass 'magic'/);
  });

  it('registers a commander command', () => {
    const program = new Command();
    registerCompileCommands(program);
    expect(program.commands.map((c) => c.name())).toContain('compile');
  });
});
