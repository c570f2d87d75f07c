/**
 * `tessera run builtin --kv-cache int4 --backend cpu` (in process, so the ops can be watched):
 * the model's attention reads int4 pages and its appends write them through the CPU backend's
 * own kernels; no attention op runs its float64 oracle, and the run prints a continuation.
 */
import { describe, expect, it } from 'vitest';
import { getOp } from '../../src/ops/registry.js';
import { runCliOnCpu } from './run-cli-on-cpu.js';

const KV_OPS = ['paged_attention', 'append_kv', 'qkv_append'];

describe('tessera run builtin --kv-cache int4 --backend cpu', () => {
  it('attends over int4 pages with the CPU kernels, never the oracles, and prints a continuation', async () => {
    const {
      counts: quantOps,
      oracleCalls,
      printed,
    } = await runCliOnCpu(
      ['builtin', 'Once upon a time', '--backend', 'cpu', '--kv-cache', 'int4', '-n', '6', '-t', '0'],
      (op, attrs) => {
        const q = attrs.kvQuant as { dtype?: string } | undefined;
        return q ? `${op} ${q.dtype}` : null;
      },
      KV_OPS.map((name) => getOp(name)),
    );
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
