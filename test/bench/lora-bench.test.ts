/**
 * bench/lora.ts's measurement and checks at tiny size (2 layers, 64 requests, rank 4 and 8) on
 * whatever adapter CI has: the program cannot rot between H100 runs, and its checks must hold.
 */
import { describe, expect, it } from 'vitest';
import { benchLora } from '../../bench/lora-bench.js';
import { gpuBackend, gpuSkipReason } from '../gpu-setup.js';

const gpu = await gpuBackend();

describe.skipIf(!gpu)(`bench/lora.ts --tiny${gpu ? '' : ` (skipped: ${gpuSkipReason()})`}`, () => {
  it('measures every case and its checks hold', async () => {
    const checks: string[] = [];
    const { rows } = await benchLora(
      gpu!,
      { tiny: true, ranks: [4, 8] },
      {
        that(ok, what, detail) {
          checks.push(`${ok ? 'ok' : 'FAIL'}: ${what} (${detail ?? ''})`);
          if (!ok) throw new Error(`${what}: ${detail ?? ''}`);
        },
      },
    );
    console.log(checks.join('\n'));
    // per rank: three checks (and the unfused path's at the first); three spreads, the loop row
    // and the latency row (and the unfused path's at the first); plus the base row
    expect(checks).toHaveLength(7);
    expect(rows).toHaveLength(1 + 2 * 5 + 1);
    expect(rows.every((r) => Number.isFinite(r.ours) && r.ours > 0)).toBe(true);
  }, 600_000);
});
