/**
 * The quantized KV cache: the host format (rounding, error bound, bytes per token) and, on the
 * device, append_kv quantizing new rows and paged attention over int8/int4 pages against the
 * float64 oracle over the dequantized pool (odd lengths, GQA, partly filled last pages, both
 * the streaming and the tiled template).
 */
import { describe, expect, it } from 'vitest';
import { streamGeometry, streamWhyUnsupported } from '../../src/attention/attention-decode.js';
import { attentionParams } from '../../src/attention/kernels.js';
import { quantAppendCase, quantAttentionCase } from '../../src/attention/kv-quant-cases.js';
import {
  type KvQuantSpec,
  dequantizePool,
  kvBytesPerToken,
  quantPage,
  quantizePool,
  quantizeRow,
  unpackParam,
} from '../../src/attention/kv-quant.js';
import { getOp } from '../../src/ops/registry.js';
import { runCase } from '../../src/testing/conformance.js';
import { seedNote, testSeed } from '../../src/testing/seed.js';
import { Rng } from '../../src/util/rng.js';
import { gpuBackends, gpuSkipReason } from '../gpu-setup.js';

const seed = testSeed();
const gpu = (await gpuBackends())[0];
if (!gpu) console.log('kv-quant: no WebGPU device, the device tests are skipped');

describe(`quantized KV format (${seedNote(seed)})`, () => {
  it('keeps every value of a row within half a step of its grid', () => {
    const rng = new Rng(seed);
    for (const dtype of ['int8', 'int4'] as const)
      for (const scale of [1e-3, 1, 40]) {
        const x = Float32Array.from(rng.normals(128, scale)).map((v, i) => v + (i % 3) * scale);
        const q = quantizeRow(x, dtype);
        const { scale: s, zero } = unpackParam(q.param);
        const levels = dtype === 'int8' ? 255 : 15;
        for (let i = 0; i < x.length; i++) {
          expect(q.codes[i]).toBeLessThanOrEqual(levels);
          expect(Math.abs(s * q.codes[i]! + zero - x[i]!)).toBeLessThanOrEqual(
            0.5 * s * (1 + 1e-6) + 1e-7 * Math.abs(x[i]!),
          );
        }
      }
  });

  it('round-trips a pool, constant rows included', () => {
    const spec: KvQuantSpec = { dtype: 'int4', numKvHeads: 2, pageSize: 3, headDim: 32 };
    const n = 2 * 2 * 3 * 2 * 32;
    const pool = Float64Array.from({ length: n }, (_, i) => (Math.floor(i / 32) % 5 === 0 ? 0.75 : Math.sin(i)));
    const words = quantizePool(pool, spec, 'HND', 2);
    expect(words.length).toBe(2 * quantPage(spec).pageWords);
    const back = dequantizePool(words, spec, 'HND').pool;
    for (let i = 0; i < n; i++) expect(Math.abs(back[i]! - pool[i]!)).toBeLessThan(2 / 15 / 2 + 1e-3);
  });

  it('counts the smaller pages: int4 holds over 3.5× the tokens of f16 at head dim 128', () => {
    const f16 = kvBytesPerToken('f16', 8, 128);
    expect(f16 / kvBytesPerToken('int8', 8, 128)).toBeCloseTo(1.94, 2);
    expect(f16 / kvBytesPerToken('int4', 8, 128)).toBeGreaterThan(3.5);
  });
});

describe('quantized KV in the streaming template', () => {
  it("keeps Llama's 4-row GQA tiles of 4-bit d128 rows within the register budget (8-byte words)", () => {
    const p = {
      headDim: 128,
      numQoHeads: 32,
      numKvHeads: 8,
      pageSize: 16,
      layout: 'HND' as const,
      qDtype: 'f16' as const,
      oDtype: 'f16' as const,
      scale: 0.088,
      variant: { causal: true },
      tileRows: 4,
      tileKeys: 32,
      grid: 528,
      maxItems: 2048,
    };
    const sg32 = { subgroups: true, subgroupMinSize: 32, subgroupMaxSize: 32 };
    for (const kvDtype of ['int8', 'int4'] as const) {
      expect(streamWhyUnsupported({ ...p, kvDtype }, sg32), kvDtype).toBeNull();
      expect(streamGeometry({ headDim: 128, kvDtype }, 32)).toMatchObject({ L: 8, LR: 8, NV: 1, epv: 16 });
    }
  });
});

describe(`quantized KV on the device (${seedNote(seed)})`, () => {
  const rng = new Rng(seed);
  const cases = [
    // decode, odd lengths, a partly filled last page
    quantAttentionCase(rng, { dtype: 'int8', decode: true, headDim: 64 }),
    quantAttentionCase(rng, { dtype: 'int4', decode: true, headDim: 128 }),
    quantAttentionCase(rng, { dtype: 'int4', decode: false, headDim: 64 }),
    // two rows per item keep a 4-bit d128 row within the streaming template's register budget
    quantAttentionCase(rng, { dtype: 'int4', decode: true, headDim: 128, tileRows: 2 }),
    quantAttentionCase(rng, { dtype: 'int8', decode: false, headDim: 32 }),
  ];
  const op = getOp('paged_attention');
  for (const c of cases) {
    it.skipIf(!gpu)(
      `paged attention matches float64 on the dequantized pool: ${c.label}${gpu ? '' : ` (skipped: ${gpuSkipReason()})`}`,
      async () => {
        const p = attentionParams(
          gpu!.backend.caps,
          c.attrs,
          c.inputs.map((i) => i.desc),
        );
        console.log(`${c.label}: ${streamWhyUnsupported(p, gpu!.backend.caps) ?? 'streaming template'}`);
        const r = await runCase(gpu!.backend, op, c);
        expect(r.skipped ?? '', c.label).toBe('');
        expect(r.message ?? 'ok', c.label).toBe('ok');
      },
    );
  }
  const appends = [quantAppendCase(rng), quantAppendCase(rng), quantAppendCase(rng)];
  // qkv_append's quantized case is the op's last one (after its float cases)
  const qkv = getOp('qkv_append').cases(new Rng(seed), { big: false }).at(-1)!;
  it.skipIf(!gpu)(
    `qkv_append quantizes K/V into the slots within half a step: ${qkv.label}${gpu ? '' : ` (skipped: ${gpuSkipReason()})`}`,
    async () => {
      const r = await runCase(gpu!.backend, getOp('qkv_append'), qkv);
      expect(r.skipped ?? '', qkv.label).toBe('');
      expect(r.message ?? 'ok', qkv.label).toBe('ok');
    },
  );
  for (const c of appends) {
    it.skipIf(!gpu)(
      `append_kv quantizes new rows within half a step: ${c.label}${gpu ? '' : ` (skipped: ${gpuSkipReason()})`}`,
      async () => {
        const r = await runCase(gpu!.backend, getOp('append_kv'), c);
        expect(r.skipped ?? '', c.label).toBe('');
        expect(r.message ?? 'ok', c.label).toBe('ok');
      },
    );
  }
});
