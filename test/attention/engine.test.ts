/**
 * The attention engine end to end on the device: sampled kernel × variant × head dim × page size
 * × GQA cases, split vs unsplit plans, skew, empty and one-token requests, cascade vs plain,
 * recorded streams, and bad input refused before any dispatch.
 */
import { describe, expect, it } from 'vitest';
import { BatchAttention, type BatchAttentionConfig } from '../../src/attention/batch-attention.js';
import { pageRows, randomPagedBatch, shuffled } from '../../src/attention/batch-gen.js';
import { CascadeAttention } from '../../src/attention/cascade.js';
import { HeadDimError } from '../../src/attention/tile-config.js';
import { PageTableError } from '../../src/attention/kv-layout.js';
import { attentionCase } from '../../src/attention/ops.js';
import { referencePagedAttention } from '../../src/attention/reference.js';
import { attentionWgsl } from '../../src/attention/attention-wgsl.js';
import { attentionParams } from '../../src/attention/kernels.js';
import type { VariantSpec } from '../../src/attention/variants.js';
import type { WebGpuBackend } from '../../src/backends/webgpu/webgpu-backend.js';
import { getOp } from '../../src/ops/registry.js';
import { runCase } from '../../src/testing/conformance.js';
import { toFloat64 } from '../../src/tensor/dtype.js';
import { Rng } from '../../src/util/rng.js';
import { seedNote, testSeed } from '../../src/testing/seed.js';
import { gpuBackend, gpuSkipReason } from '../gpu-setup.js';
import { HEAVY, heavyTitle } from '../heavy.js';

const seed = testSeed();
const gpu = await gpuBackend();

interface Setup {
  readonly cfg: BatchAttentionConfig;
  readonly qoLens: number[];
  readonly kvLens: number[];
  readonly rows: { indptr: number[]; indices: number[]; last: number[] };
  readonly q: Float64Array;
  readonly pool: Float64Array;
}

function setup(rng: Rng, qoLens: number[], kvLens: number[], over: Partial<BatchAttentionConfig> = {}): Setup {
  const base = {
    numQoHeads: 4,
    numKvHeads: 2,
    headDim: 64,
    pageSize: 4,
    layout: 'NHD' as const,
    dtype: 'f32' as const,
    ...over,
  };
  const b = randomPagedBatch(rng, { ...base, qoLens, kvLens, sparePages: 3 });
  const rows = pageRows(kvLens, base.pageSize, Array.from(b.kvIndices.data as Int32Array));
  const tokens = qoLens.reduce((a, c) => a + c, 0);
  const cfg: BatchAttentionConfig = {
    ...base,
    numPages: b.numPages,
    maxBatch: qoLens.length + 2,
    maxTokens: Math.max(1, tokens),
    maxPages: rows.indices.length + 4,
    grid: 24,
    maxItems: 512,
  };
  return { cfg, qoLens, kvLens, rows, q: toFloat64(base.dtype, b.q.data), pool: toFloat64(base.dtype, b.pool.data) };
}

async function runBatch(
  be: WebGpuBackend,
  s: Setup,
  opts: { kvChunk?: number | 'none' } = {},
  cascadePrefix?: number,
): Promise<{ o: Float64Array; lse: Float64Array }> {
  const { cfg } = s;
  const qT = be.alloc({ dtype: cfg.dtype, shape: [cfg.maxTokens, cfg.numQoHeads, cfg.headDim] });
  const shape = [cfg.numPages, 2, cfg.pageSize, cfg.numKvHeads, cfg.headDim];
  const poolT = be.alloc({ dtype: cfg.dtype, shape });
  const oT = be.alloc({ dtype: 'f32', shape: qT.shape });
  const lseT = be.alloc({ dtype: 'f32', shape: [cfg.maxTokens, cfg.numQoHeads] });
  const q = new Float32Array(cfg.maxTokens * cfg.numQoHeads * cfg.headDim);
  q.set(s.q);
  be.write(qT, q);
  be.write(poolT, Float32Array.from(s.pool));
  try {
    if (cascadePrefix === undefined) {
      const attn = new BatchAttention(be, { ...cfg, outDtype: 'f32' });
      attn.plan({ qoLens: s.qoLens, indptr: s.rows.indptr, indices: s.rows.indices, lastPageLen: s.rows.last }, opts);
      attn.run(qT, poolT, oT, lseT);
      attn.destroy();
    } else {
      // every request's row starts with the same `cascadePrefix` pages: the shared prefix
      const shared = s.rows.indices.slice(0, cascadePrefix);
      const suffix = { indptr: [0] as number[], indices: [] as number[], last: [] as number[] };
      s.qoLens.forEach((_, b) => {
        suffix.indices.push(...s.rows.indices.slice(s.rows.indptr[b]! + cascadePrefix, s.rows.indptr[b + 1]!));
        suffix.indptr.push(suffix.indices.length);
        suffix.last.push(s.rows.last[b]!);
      });
      const c = new CascadeAttention(be, { ...cfg, outDtype: 'f32' });
      c.plan(
        {
          sharedPages: shared,
          sharedLength: cascadePrefix * cfg.pageSize,
          suffix: { qoLens: s.qoLens, indptr: suffix.indptr, indices: suffix.indices, lastPageLen: suffix.last },
        },
        opts,
      );
      c.run(qT, poolT, oT, lseT);
      await be.flush();
      c.destroy();
    }
    await be.flush();
    return { o: toFloat64('f32', await be.read(oT)), lse: toFloat64('f32', await be.read(lseT)) };
  } finally {
    for (const t of [qT, poolT, oT, lseT]) be.free(t);
  }
}

function reference(s: Setup, variant: VariantSpec = s.cfg.variant ?? {}): { o: Float64Array; lse: Float64Array } {
  const { cfg } = s;
  const f = (xs: number[]): Float64Array => Float64Array.from(xs);
  return referencePagedAttention(
    { layout: cfg.layout, variant },
    {
      q: s.q,
      qShape: [s.q.length / cfg.numQoHeads / cfg.headDim, cfg.numQoHeads, cfg.headDim],
      pool: s.pool,
      poolShape: [cfg.numPages, 2, cfg.pageSize, cfg.numKvHeads, cfg.headDim],
      qoIndptr: f(s.qoLens.reduce((a, l) => (a.push(a[a.length - 1]! + l), a), [0])),
      kvIndptr: f(s.rows.indptr),
      kvIndices: f(s.rows.indices),
      lastPageLen: f(s.rows.last),
    },
  );
}

function maxErr(got: Float64Array, want: Float64Array, n = want.length): number {
  let m = 0;
  for (let i = 0; i < n; i++) {
    if (want[i] === got[i]) continue;
    const e = Math.abs(got[i]! - want[i]!);
    m = Number.isNaN(e) ? Infinity : Math.max(m, e);
  }
  return m;
}

describe.skipIf(!gpu)(`attention engine (${seedNote(seed)})${gpu ? '' : ` (skipped: ${gpuSkipReason()})`}`, () => {
  const be = gpu!;
  const rng = new Rng(seed);

  // drawn here, before the tests below take their data from the same generator; each case compiles
  // fresh pipelines (up to tens of seconds on lavapipe), so CI runs the first and the heavy sweep all
  const sampled = Array.from({ length: 6 }, () => attentionCase(rng));
  for (const [i, c] of sampled.entries()) {
    const title = `sampled kernel × variant × head dim × page size × GQA case ${i} matches the float64 oracle: ${c.label}`;
    it.skipIf(i >= 1 && !HEAVY)(i >= 1 ? heavyTitle(title) : title, async () => {
      const r = await runCase(be, getOp('paged_attention'), c);
      expect(r.skipped ?? '', c.label).toBe('');
      expect(r.message ?? 'ok', c.label).toBe('ok');
    });
  }

  it('split and unsplit plans agree, skewed batch included', async () => {
    const s = setup(rng, [1, 1, 1, 1, 1], [301, 3, 1, 17, 9], { decode: true, variant: { causal: true } });
    const whole = await runBatch(be, s, { kvChunk: 'none' });
    const split = await runBatch(be, s, { kvChunk: 7 });
    const searched = await runBatch(be, s);
    const ref = reference(s);
    const n = 5 * 4;
    expect(maxErr(whole.lse, ref.lse, n)).toBeLessThan(1e-4);
    expect(maxErr(split.o, whole.o, n * 64)).toBeLessThan(2e-5);
    expect(maxErr(split.lse, whole.lse, n)).toBeLessThan(2e-5);
    expect(maxErr(searched.o, ref.o, n * 64)).toBeLessThan(2e-4);
  });

  it('handles empty and one-token requests in a ragged prefill', async () => {
    const s = setup(rng, [0, 1, 7, 0, 3], [0, 1, 11, 5, 3], { variant: { causal: true, windowLeft: 4 }, pageSize: 3 });
    const got = await runBatch(be, s, { kvChunk: 4 });
    const ref = reference(s);
    expect(maxErr(got.o, ref.o)).toBeLessThan(2e-4);
    expect(maxErr(got.lse, ref.lse)).toBeLessThan(2e-4);
  });

  it('cascade (shared prefix read once + suffixes + merge_states) equals plain attention', async () => {
    // request 0 holds the prefix pages; every request's KV = prefix + its own suffix
    const prefixPages = 3;
    const suffixLens = [5, 1, 9, 2];
    const kvLens = suffixLens.map((l) => prefixPages * 4 + l);
    const s0 = setup(rng, [1, 1, 1, 1], kvLens, { decode: true, variant: { causal: true, softCap: 3 } });
    // rebuild page rows so all requests start with request 0's prefix pages
    const shared = s0.rows.indices.slice(0, prefixPages);
    const pool = shuffled(rng, s0.cfg.numPages).filter((p) => !shared.includes(p));
    const indptr = [0];
    const indices: number[] = [];
    const last: number[] = [];
    let next = 0;
    suffixLens.forEach((l) => {
      indices.push(...shared);
      for (let i = 0; i < Math.ceil(l / 4); i++) indices.push(pool[next++]!);
      indptr.push(indices.length);
      last.push(l - (Math.ceil(l / 4) - 1) * 4);
    });
    const s: Setup = { ...s0, rows: { indptr, indices, last } };
    const plain = await runBatch(be, s);
    const cascade = await runBatch(be, s, {}, prefixPages);
    const ref = reference(s);
    expect(maxErr(plain.o, ref.o)).toBeLessThan(2e-4);
    expect(maxErr(cascade.o, plain.o)).toBeLessThan(2e-5);
    expect(maxErr(cascade.lse, plain.lse)).toBeLessThan(2e-5);
  });

  it('a recorded dispatch stream replays with a new plan', async () => {
    const s = setup(rng, [1, 1, 1], [40, 2, 13], { decode: true, variant: { causal: true } });
    const { cfg } = s;
    const attn = new BatchAttention(be, { ...cfg, outDtype: 'f32' });
    const qT = be.alloc({ dtype: 'f32', shape: [cfg.maxTokens, cfg.numQoHeads, cfg.headDim] });
    const poolT = be.alloc({ dtype: 'f32', shape: [cfg.numPages, 2, cfg.pageSize, cfg.numKvHeads, cfg.headDim] });
    const oT = be.alloc({ dtype: 'f32', shape: qT.shape });
    const lseT = be.alloc({ dtype: 'f32', shape: [cfg.maxTokens, cfg.numQoHeads] });
    be.write(qT, Float32Array.from(s.q));
    be.write(poolT, Float32Array.from(s.pool));
    attn.plan(
      { qoLens: s.qoLens, indptr: s.rows.indptr, indices: s.rows.indices, lastPageLen: s.rows.last },
      { kvChunk: 'none' },
    );
    const stream = be.record(() => attn.run(qT, poolT, oT, lseT));
    // a different plan (split chunks) uploaded after recording; the stream reads it on replay
    const plan = attn.plan(
      { qoLens: s.qoLens, indptr: s.rows.indptr, indices: s.rows.indices, lastPageLen: s.rows.last },
      { kvChunk: 5 },
    );
    expect(plan.merges).toBeGreaterThan(0);
    stream.replay();
    await be.flush();
    const got = toFloat64('f32', await be.read(oT));
    stream.destroy();
    attn.destroy();
    for (const t of [qT, poolT, oT, lseT]) be.free(t);
    expect(maxErr(got, reference(s).o)).toBeLessThan(2e-4);
  });

  it('refuses bad input before any dispatch', () => {
    const s = setup(rng, [1, 1], [9, 4], { decode: true });
    const attn = new BatchAttention(be, s.cfg);
    const before = be.dispatchCount;
    const rows = { qoLens: s.qoLens, indptr: s.rows.indptr, lastPageLen: s.rows.last };
    const bad = [...s.rows.indices];
    bad[1] = s.cfg.numPages + 3;
    expect(() => attn.plan({ ...rows, indices: bad })).toThrow(PageTableError);
    expect(() => attn.plan({ ...rows, indices: bad })).toThrow(/page index \d+ out of range/);
    expect(() => attn.plan({ ...rows, indices: s.rows.indices, lastPageLen: [9, 4] })).toThrow(
      /last page length 9 outside 1…4/,
    );
    expect(() =>
      attn.plan({
        qoLens: [1, 1, 1, 1, 1],
        indptr: [0, 1, 2, 3, 4, 5],
        indices: [0, 1, 2, 3, 4],
        lastPageLen: [1, 1, 1, 1, 1],
      }),
    ).toThrow(/over the capacity of 4/);
    expect(() => attn.plan({ ...rows, qoLens: [1, 13], indices: s.rows.indices })).toThrow(
      /query tokens over the capacity|only 4 KV tokens/,
    );
    expect(() => new BatchAttention(be, { ...s.cfg, headDim: 260 })).toThrow(HeadDimError);
    expect(() => new BatchAttention(be, { ...s.cfg, headDim: 256, tileRows: 64 })).toThrow(/workgroup storage/);
    expect(be.dispatchCount).toBe(before);
    attn.destroy();
  });

  it('variants specialise the template; the pipeline cache keeps one pipeline each', async () => {
    const c = attentionCase(new Rng(seed ^ 1), { decode: true, variant: { causal: true }, headDim: 64 });
    const a = attentionParams(
      be.caps,
      c.attrs,
      c.inputs.map((i) => i.desc),
    );
    const wgsl = (variant: VariantSpec): string => attentionWgsl({ ...a, variant });
    const kinds: VariantSpec[] = [
      {},
      { causal: true },
      { causal: true, windowLeft: 3 },
      { softCap: 5 },
      { alibi: true },
      { customMask: true },
      { rope: { theta: 1e4 } },
    ];
    expect(new Set(kinds.map(wgsl)).size).toBe(kinds.length);
    // the f32 path never uses native f16, so the f16-disabled device compiles the very same shader
    const noF16 = { ...be.caps, f16: false };
    expect(
      attentionWgsl(
        attentionParams(
          noF16,
          c.attrs,
          c.inputs.map((i) => i.desc),
        ),
      ),
    ).toBe(wgsl(a.variant));
    const op = getOp('paged_attention');
    await runCase(be, op, c);
    const size = be.pipelines.size;
    await runCase(be, op, c);
    expect(be.pipelines.size).toBe(size);
  });
});
