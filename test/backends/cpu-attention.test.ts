/**
 * The CPU attention kernels against the float64 oracle on more cases than the conformance suite
 * draws: every paged-attention variant (causal, sliding window, soft cap, ALiBi, custom mask, fused
 * RoPE with and without Llama-3 scaling, and combinations) at decode and prefill, f32/f16/bf16
 * pools, both layouts; dense attention at odd head dims and long keys; merge_states.
 */
import { describe, expect, it } from 'vitest';
import { CpuBackend } from '../../src/backends/cpu/cpu-backend.js';
import { attentionCase, mergeStatesOp, pagedAttentionOp } from '../../src/attention/ops.js';
import type { VariantSpec } from '../../src/attention/variants.js';
import { attentionOp } from '../../src/ops/attention.js';
import type { Attrs } from '../../src/backends/backend.js';
import type { OpSpec } from '../../src/ops/op-spec.js';
import { runCase, runsTheOracle } from '../../src/testing/conformance.js';
import { seedNote, testSeed } from '../../src/testing/seed.js';
import { Rng } from '../../src/util/rng.js';

const seed = testSeed();
const cpu = new CpuBackend();

const VARIANTS: VariantSpec[] = [
  {},
  { causal: true },
  { causal: true, windowLeft: 3 },
  { windowLeft: 6 },
  { softCap: 2.5 },
  { causal: true, alibi: true },
  { alibi: true, softCap: 1.5 },
  { customMask: true },
  { customMask: true, causal: true, windowLeft: 4 },
  { causal: true, rope: { theta: 10000 } },
  { rope: { theta: 1e6 }, alibi: true, softCap: 3 },
  {
    causal: true,
    rope: { theta: 500000, scaling: { factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 64 } },
  },
];

async function expectOk(op: OpSpec<Attrs>, c: Parameters<typeof runCase>[2]): Promise<void> {
  expect(runsTheOracle(cpu, op.name, c), c.label).toBeNull();
  const r = await runCase(cpu, op, c);
  expect(r.message ?? 'ok', c.label).toBe('ok');
}

describe(`CPU paged attention variants (${seedNote(seed)})`, () => {
  for (const variant of VARIANTS) {
    const name = JSON.stringify(variant);
    it(`${name}: decode and prefill, every dtype`, async () => {
      const rng = new Rng(seed ^ name.length);
      for (const decode of [true, false])
        for (const dtype of ['f32', 'f16', 'bf16'] as const)
          await expectOk(pagedAttentionOp as OpSpec<Attrs>, attentionCase(rng, { decode, variant, dtype }));
    });
  }
  it('long KV (hundreds of keys over many pages) with RoPE and ALiBi', async () => {
    const rng = new Rng(seed + 1);
    const lengths = { qo: [1, 7], kv: [700, 300] };
    for (const variant of [
      { causal: true, rope: { theta: 10000 } },
      { causal: true, alibi: true },
    ])
      await expectOk(pagedAttentionOp as OpSpec<Attrs>, attentionCase(rng, { variant, lengths, headDim: 64 }));
  });
});

describe(`CPU dense attention and merge_states (${seedNote(seed)})`, () => {
  it('dense attention: the op cases, big ones included', async () => {
    const rng = new Rng(seed + 2);
    for (const c of attentionOp.cases(rng, { big: false })) await expectOk(attentionOp as OpSpec<Attrs>, c);
  });
  it('merge_states: the op cases, several draws', async () => {
    const rng = new Rng(seed + 3);
    for (let i = 0; i < 5; i++)
      for (const c of mergeStatesOp.cases(rng, { big: false })) await expectOk(mergeStatesOp as OpSpec<Attrs>, c);
  });
});
