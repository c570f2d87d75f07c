/**
 * The CPU backend's kernels for the quantized KV cache against the float64 oracle on more cases
 * than the conformance suite draws: paged attention over int8/int4 pages with every built-in
 * variant at decode and prefill, long KV that the pool splits across threads, append_kv, and the
 * qkv_append cases with their pools quantized. Every case must run a kernel of the backend's own.
 */
import { describe, expect, it } from 'vitest';
import { CpuBackend } from '../../src/backends/cpu/cpu-backend.js';
import { appendKvOp, pagedAttentionOp } from '../../src/attention/ops.js';
import { quantAppendCase, quantAttentionCase } from '../../src/attention/kv-quant-cases.js';
import { quantQkvCase } from '../../src/attention/qkv-append-quant.js';
import { type QkvAppendAttrs, qkvAppendOp } from '../../src/attention/qkv-append.js';
import type { VariantSpec } from '../../src/attention/variants.js';
import type { Attrs } from '../../src/backends/backend.js';
import type { OpCase, OpSpec } from '../../src/ops/op-spec.js';
import { runCase, runsTheOracle } from '../../src/testing/conformance.js';
import { seedNote, testSeed } from '../../src/testing/seed.js';
import { Rng } from '../../src/util/rng.js';

const seed = testSeed();
const cpu = new CpuBackend();

async function expectOk(op: OpSpec<Attrs>, c: OpCase<Attrs>): Promise<void> {
  expect(runsTheOracle(cpu, op.name, c), c.label).toBeNull();
  const r = await runCase(cpu, op, c);
  expect(r.message ?? 'ok', c.label).toBe('ok');
}

const VARIANTS: VariantSpec[] = [
  {},
  { causal: true },
  { causal: true, windowLeft: 5 },
  { softCap: 2.5 },
  { causal: true, alibi: true },
  { customMask: true },
  { causal: true, rope: { theta: 10000 } },
];

describe(`CPU paged attention over int8/int4 pages (${seedNote(seed)})`, () => {
  for (const variant of VARIANTS) {
    const name = JSON.stringify(variant);
    it(`${name}: decode and prefill, both bit widths, head dims 32–128`, async () => {
      const rng = new Rng(seed ^ (name.length * 7919));
      for (const decode of [true, false])
        for (const dtype of ['int8', 'int4'] as const)
          for (const headDim of [32, 128])
            await expectOk(
              pagedAttentionOp as OpSpec<Attrs>,
              quantAttentionCase(rng, { dtype, decode, headDim, variant }) as OpCase<Attrs>,
            );
    });
  }

  it('long KV over many pages', async () => {
    const rng = new Rng(seed + 11);
    for (const dtype of ['int8', 'int4'] as const)
      await expectOk(
        pagedAttentionOp as OpSpec<Attrs>,
        quantAttentionCase(rng, {
          dtype,
          headDim: 128,
          variant: { causal: true },
          // one work item per row: the CPU kernel ignores the plan, and short chunks over long KV overflow it
          kvChunk: 'none',
          lengths: { qo: [1, 40], kv: [700, 400] },
        }) as OpCase<Attrs>,
      );
  });
});

describe(`CPU appends into int8/int4 pages (${seedNote(seed)})`, () => {
  it('append_kv: several draws', async () => {
    const rng = new Rng(seed + 12);
    for (let i = 0; i < 8; i++) await expectOk(appendKvOp as OpSpec<Attrs>, quantAppendCase(rng) as OpCase<Attrs>);
  });

  it("qkv_append: each draw's quantized case, and its float cases of head dim 32 quantized", async () => {
    const rng = new Rng(seed + 13);
    let ran = 0;
    for (let i = 0; i < 3; i++) {
      const cases = qkvAppendOp.cases(rng, { big: false }) as OpCase<QkvAppendAttrs>[];
      // the last case is already quantized; head dims under 32 have no 4-bit layout, and a
      // quantized pool takes f32 or f16 K/V rows
      const quantizable = (c: OpCase<QkvAppendAttrs>) =>
        c.attrs.rope?.headDim === 32 && (c.attrs.outDtype === 'f32' || c.attrs.outDtype === 'f16');
      const quantized = [
        cases[cases.length - 1]!,
        ...cases
          .slice(0, -1)
          .filter(quantizable)
          .map((c) => quantQkvCase(c, rng)),
      ];
      for (const c of quantized) {
        expect(c.attrs.kvQuant, c.label).toBeDefined();
        await expectOk(qkvAppendOp as OpSpec<Attrs>, c as OpCase<Attrs>);
        ran++;
      }
    }
    console.log(`qkv_append into quantized pools: ${ran} cases`);
  });
});
