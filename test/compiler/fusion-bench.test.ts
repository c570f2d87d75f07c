/** The fusion bench's measurement code, at toy sizes on whatever adapter CI has. */
import { describe, expect, it } from 'vitest';
import { benchFusion } from '../../bench/fusion.js';
import { hasOp } from '../../src/ops/registry.js';
import { gpuBackend } from '../gpu-setup.js';

const gpu = await gpuBackend();
const ready = hasOp('rope') && hasOp('attention');

describe.skipIf(!gpu || !ready)('bench/fusion.ts', () => {
  it('measures fewer dispatches with fusion and identical results', async () => {
    const { rows, maxRelDiff, counts } = await benchFusion(
      gpu!,
      { hidden: 32, heads: 4, kvHeads: 2, headDim: 8, ffn: 48, maxN: 64 },
      [3, 17],
      3,
    );
    expect(maxRelDiff).toBeLessThan(1e-4);
    expect(counts['n=3 fused']).toBeLessThan(counts['n=3 unfused']!);
    const d = rows.find((r) => r.case === 'llama block n=17 dispatches')!;
    expect(d.ratio).toBeGreaterThan(1);
    expect(rows.every((r) => Number.isFinite(r.ours) && r.ours > 0)).toBe(true);
  });
});
