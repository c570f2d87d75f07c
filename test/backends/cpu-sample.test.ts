/**
 * The CPU `sample` op (src/backends/cpu/cpu-sample.ts) against the op's contract check
 * (src/ops/sample.ts `checkSampled`: the token must lie in its CDF interval under some keep-set a
 * float32 computation could produce), on vocabularies up to Llama-3's 128256 with every filter,
 * tie groups at the boundaries and −∞ (masked) logits.
 */
import { describe, expect, it } from 'vitest';
import { CpuBackend } from '../../src/backends/cpu/cpu-backend.js';
import type { Attrs } from '../../src/backends/backend.js';
import type { OpSpec } from '../../src/ops/op-spec.js';
import { SAMPLE_PARAM_WORDS, type SampleRowParams, packSampleParams, sampleOp } from '../../src/ops/sample.js';
import { toHost } from '../../src/tensor/dtype.js';
import { runCase, runsTheOracle } from '../../src/testing/conformance.js';
import { seedNote, testSeed } from '../../src/testing/seed.js';
import { Rng } from '../../src/util/rng.js';

const seed = testSeed();
const cpu = new CpuBackend();

function rowCase(rng: Rng, R: number, V: number, dtype: 'f32' | 'f16' | 'bf16', kind: 'normal' | 'ties' | 'masked') {
  const vals = rng.normals(R * V, 2).map((v) => (kind === 'ties' ? Math.round(v * 2) / 2 : v));
  if (kind === 'masked') for (let i = 0; i < vals.length; i++) if (rng.next() < 0.5) vals[i] = -Infinity;
  const rows: SampleRowParams[] = Array.from({ length: R }, () => ({
    temperature: rng.pick([0, 0.05, 0.5, 1, 1.7]),
    topK: rng.pick([0, 1, 2, 40, V - 1, V]),
    topP: rng.pick([1, 0.99, 0.9, 0.5, 0.05]),
    minP: rng.pick([0, 0.01, 0.3, 1]),
    seed: rng.int(0, 0xffffffff),
    stream: rng.pick([0, rng.int(0, 0xffffffff)]),
    step: rng.int(0, 100000),
  }));
  return {
    label: `${dtype} ${kind} ${R}x${V}`,
    attrs: {},
    inputs: [
      { desc: { dtype, shape: [R, V] }, data: toHost(dtype, vals) },
      { desc: { dtype: 'u32' as const, shape: [R, SAMPLE_PARAM_WORDS] }, data: packSampleParams(rows) },
    ],
  };
}

describe(`CPU sample (${seedNote(seed)})`, () => {
  const cases: [number, number, 'f32' | 'f16' | 'bf16', 'normal' | 'ties' | 'masked'][] = [
    [64, 7, 'f32', 'ties'],
    [64, 50, 'f32', 'masked'],
    [32, 1000, 'bf16', 'normal'],
    [32, 1000, 'f16', 'ties'],
    [16, 32000, 'f32', 'normal'],
    [4, 128256, 'f32', 'normal'],
    [4, 128256, 'bf16', 'ties'],
  ];
  for (const [R, V, dtype, kind] of cases) {
    it(`${R} rows of ${V} ${dtype} ${kind} logits are drawn within their CDF intervals`, async () => {
      const rng = new Rng(seed ^ (R * V));
      const c = rowCase(rng, R, V, dtype, kind);
      expect(runsTheOracle(cpu, 'sample', c)).toBeNull();
      const r = await runCase(cpu, sampleOp as OpSpec<Attrs>, c);
      expect(r.message ?? 'ok').toBe('ok');
    });
  }
});
