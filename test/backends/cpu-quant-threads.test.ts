/**
 * The CPU kernels of the quantized ops split across threads (the pool forced to three, so the
 * split runs on any machine): the Atom quantizer and integer matmul at sizes past the pool's
 * single-thread limit, and paged attention over int8/int4 pages with many query rows, each against
 * its float64 oracle, each counted as a split job.
 */
import { describe, expect, it } from 'vitest';
import type { Attrs } from '../../src/backends/backend.js';
import { quantAttentionCase } from '../../src/attention/kv-quant-cases.js';
import { pagedAttentionOp } from '../../src/attention/ops.js';
import type { OpCase, OpSpec } from '../../src/ops/op-spec.js';
import { groupsOf, quantizeActivations, quantizeW4a4Weights } from '../../src/quant/w4a4-format.js';
import { atomMatmulOp, atomQuantizeOp } from '../../src/quant/w4a4-ops.js';
import { runCase, runsTheOracle } from '../../src/testing/conformance.js';
import { seedNote, testSeed } from '../../src/testing/seed.js';
import { Rng } from '../../src/util/rng.js';

process.env.TESSERA_THREADS = '3';
const { CpuBackend } = await import('../../src/backends/cpu/cpu-backend.js');
const { cpuRuntime } = await import('../../src/backends/cpu/cpu-runtime.js');
const seed = testSeed();

describe(`quantized ops' CPU kernels across three threads (${seedNote(seed)})`, () => {
  const cpu = new CpuBackend();
  const { pool } = cpuRuntime();

  /** Runs c, expecting a kernel of the backend's own, at least one split job, and the oracle's answer. */
  async function expectSplitOk(op: OpSpec<Attrs>, c: OpCase<Attrs>): Promise<void> {
    // the workers start asynchronously; until then kernels run on fewer threads
    for (let i = 0; i < 200 && pool.helpers < 2; i++) await new Promise((r) => setTimeout(r, 10));
    expect(pool.helpers).toBe(2);
    expect(runsTheOracle(cpu, op.name, c), c.label).toBeNull();
    const before = pool.stats.split;
    const r = await runCase(cpu, op, c);
    expect(r.message ?? 'ok', c.label).toBe('ok');
    expect(pool.stats.split, `${c.label}: split jobs`).toBeGreaterThan(before);
  }

  it('atom_quantize over 300 tokens (RMSNorm prologue, channel gather)', async () => {
    const rng = new Rng(seed);
    const m = 300;
    const k = 512;
    const perm = Int32Array.from({ length: k }, (_, i) => (i * 77) % k);
    const c: OpCase<Attrs> = {
      label: `rmsnorm reordered M${m} K${k}`,
      attrs: { prologue: 'rmsnorm', reordered: true, eps: 1e-5 },
      inputs: [
        { desc: { dtype: 'f32', shape: [m, k] }, data: Float32Array.from(rng.normals(m * k, 1)) },
        { desc: { dtype: 'f32', shape: [k] }, data: Float32Array.from(rng.normals(k, 1)) },
        { desc: { dtype: 'i32', shape: [k] }, data: perm },
      ],
    };
    await expectSplitOk(atomQuantizeOp as OpSpec<Attrs>, c);
  });

  it('atom_matmul M19 N301 K640', async () => {
    const rng = new Rng(seed + 1);
    const [m, n, k] = [19, 301, 640];
    const a = quantizeActivations(rng.normals(m * k, 1), m, k);
    const bytes = quantizeW4a4Weights(rng.normals(n * k, 0.5), n, k);
    const c: OpCase<Attrs> = {
      label: `M${m} N${n} K${k}`,
      attrs: { n, k },
      inputs: [
        { desc: { dtype: 'i8', shape: [m, k] }, data: Int8Array.from(a.q) },
        { desc: { dtype: 'f32', shape: [m, groupsOf(k)] }, data: Float32Array.from(a.scale) },
        { desc: { dtype: 'u8', shape: [bytes.length] }, data: bytes },
      ],
    };
    await expectSplitOk(atomMatmulOp as OpSpec<Attrs>, c);
  });

  it('paged attention over int8 and int4 pages, 41 query rows over long KV', async () => {
    const rng = new Rng(seed + 2);
    for (const dtype of ['int8', 'int4'] as const)
      await expectSplitOk(
        pagedAttentionOp as OpSpec<Attrs>,
        quantAttentionCase(rng, {
          dtype,
          // 41 rows × 128 dims is past the pool's single-thread limit whatever the head count
          headDim: 128,
          variant: { causal: true },
          // one work item per row: the CPU kernel ignores the plan, and short chunks over long KV overflow it
          kvChunk: 'none',
          lengths: { qo: [40, 1], kv: [300, 500] },
        }) as OpCase<Attrs>,
      );
  });
});
