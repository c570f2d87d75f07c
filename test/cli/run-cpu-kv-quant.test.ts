/**
 * `tessera run builtin --kv-cache int4 --backend cpu` (in process, so the ops can be watched):
 * the model's attention reads int4 pages and its appends write them through the CPU backend's
 * own kernels; no attention op runs its float64 oracle, and the run prints a continuation.
 */
import { Command } from 'commander';
import { describe, expect, it, vi } from 'vitest';
import type { Attrs } from '../../src/backends/backend.js';
import { CpuBackend } from '../../src/backends/cpu/cpu-backend.js';
import { registerRunCommands } from '../../src/cli/run.js';
import { getOp } from '../../src/ops/registry.js';

const KV_OPS = ['paged_attention', 'append_kv', 'qkv_append'];

describe('tessera run builtin --kv-cache int4 --backend cpu', () => {
  it('attends over int4 pages with the CPU kernels, never the oracles, and prints a continuation', async () => {
    const oracles = KV_OPS.map((name) => vi.spyOn(getOp(name), 'reference'));
    const quantOps = new Map<string, number>();
    const original = CpuBackend.prototype.run;
    const run = vi.spyOn(CpuBackend.prototype, 'run').mockImplementation(function (
      this: CpuBackend,
      op: string,
      attrs: Attrs,
      inputs,
      outputs,
    ) {
      const q = attrs.kvQuant as { dtype?: string } | undefined;
      if (q) quantOps.set(`${op} ${q.dtype}`, (quantOps.get(`${op} ${q.dtype}`) ?? 0) + 1);
      original.call(this, op, attrs, inputs, outputs);
    });
    let printed = '';
    const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: unknown) => {
      printed += String(chunk);
      return true;
    });
    try {
      const program = new Command().exitOverride();
      registerRunCommands(program);
      await program.parseAsync(
        ['run', 'builtin', 'Once upon a time', '--backend', 'cpu', '--kv-cache', 'int4', '-n', '6', '-t', '0'],
        { from: 'user' },
      );
    } finally {
      write.mockRestore();
      run.mockRestore();
    }
    const oracleCalls = oracles.map((s) => s.mock.calls.length);
    for (const s of oracles) s.mockRestore();
    console.log(
      `int4 KV ops on the CPU: ${JSON.stringify(Object.fromEntries(quantOps))}; printed ${JSON.stringify(printed)}`,
    );
    expect(quantOps.get('paged_attention int4') ?? 0).toBeGreaterThan(0);
    expect((quantOps.get('qkv_append int4') ?? 0) + (quantOps.get('append_kv int4') ?? 0)).toBeGreaterThan(0);
    expect(oracleCalls).toEqual(KV_OPS.map(() => 0));
    expect(printed.startsWith('Once upon a time')).toBe(true);
    expect(printed.length).toBeGreaterThan('Once upon a time\n'.length);
  }, 120_000);
});
