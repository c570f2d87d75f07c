/**
 * `tessera run …` in process on the CPU backend, watched: which ops its kernels ran, whether any
 * op fell back to its float64 oracle, and what the command printed.
 */
import { Command } from 'commander';
import { vi } from 'vitest';
import type { Attrs } from '../../src/backends/backend.js';
import { CpuBackend } from '../../src/backends/cpu/cpu-backend.js';
import { registerRunCommands } from '../../src/cli/run.js';
import type { OpSpec } from '../../src/ops/op-spec.js';

export interface WatchedRun {
  /** Runs of the CPU backend, by the name `keyOf` gave them. */
  readonly counts: Map<string, number>;
  /** Calls of each of the watched ops' `reference`, in their order. */
  readonly oracleCalls: number[];
  readonly printed: string;
}

/**
 * Runs `tessera run …args`, counting each CPU backend run under `keyOf(op, attrs)` (null: not
 * counted) and each call of `oracles`' references; stdout is captured, not shown.
 */
export async function runCliOnCpu(
  args: readonly string[],
  keyOf: (op: string, attrs: Attrs) => string | null,
  oracles: readonly OpSpec[],
): Promise<WatchedRun> {
  const spies = oracles.map((o) => vi.spyOn(o, 'reference'));
  const counts = new Map<string, number>();
  const original = CpuBackend.prototype.run;
  const run = vi.spyOn(CpuBackend.prototype, 'run').mockImplementation(function (
    this: CpuBackend,
    op: string,
    attrs: Attrs,
    inputs,
    outputs,
  ) {
    const key = keyOf(op, attrs);
    if (key !== null) counts.set(key, (counts.get(key) ?? 0) + 1);
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
    await program.parseAsync(['run', ...args], { from: 'user' });
  } finally {
    write.mockRestore();
    run.mockRestore();
  }
  const oracleCalls = spies.map((s) => s.mock.calls.length);
  for (const s of spies) s.mockRestore();
  return { counts, oracleCalls, printed };
}
