/**
 * The chunked decode GEMV (gemv-chunked-wgsl.ts: every format at M ≤ 4) against the float64 oracle of
 * the quantized math: N not a multiple of the rows per workgroup, K short of one step and K past
 * one step by a few chunks, the 8B K/V shape (N 1024, K 4096), M above one, w4/w8 zero points that
 * are not integers, the workgroup-memory reduction where subgroups are turned off, other rows and
 * invocations per workgroup, and a check that the comparison would catch one
 * wrongly decoded code. The geometry at the 8B layer's shapes is printed so an H100 run's timings
 * can be read against it.
 */
import { describe, expect, it } from 'vitest';
import type { Attrs } from '../../src/backends/backend.js';
import type { CheckFn, OpCase, OpSpec } from '../../src/ops/op-spec.js';
import { randomInput } from '../../src/ops/test-data.js';
import { encodeWeights } from '../../src/quant/codec.js';
import {
  QUANT_FORMATS,
  type QuantFormat,
  quantLayout,
  rowBytes,
  scalePlaneOffset,
  weightBytes,
} from '../../src/quant/formats.js';
import { f16Bits, f16ToNumber } from '../../src/tensor/dtype.js';
import { chunkedGemvGeometry, chunkedGemvParams, chunkedGemvTuning } from '../../src/quant/gemv-chunked-wgsl.js';
import { type QuantMatmulAttrs, quantMatmulOp } from '../../src/quant/ops.js';
import { runCase } from '../../src/testing/conformance.js';
import { seedNote, testSeed } from '../../src/testing/seed.js';
import { Rng } from '../../src/util/rng.js';
import { gpuBackends, gpusOrSkip } from '../gpu-setup.js';

const seed = testSeed();
const gpus = (await gpuBackends()).slice(0, 1);

const LAYER_8B: [n: number, k: number, name: string][] = [
  [4096, 4096, 'q/o'],
  [1024, 4096, 'k/v'],
  [14336, 4096, 'gate/up'],
  [4096, 14336, 'down'],
];

describe('chunked GEMV geometry at the Llama-3-8B layer (no GPU needed)', () => {
  // Little's law: ~3 TB/s at ~0.6 µs of memory latency over 132 SMs is ~14 KB in flight per SM
  it('keeps ≥ 512 workgroups and ≥ 14 KB of weight loads in flight per SM on every shape', () => {
    for (const format of QUANT_FORMATS) {
      for (const [n, k, name] of LAYER_8B) {
        const g = chunkedGemvGeometry(format, n, k, chunkedGemvParams(n, { subgroups: true }));
        console.log(
          `${format} ${name} [${n}, ${k}]: ${g.workgroups} workgroups × ${g.threads} invocations, ${g.rowsPerWorkgroup} rows each, ${g.steps} steps; ` +
            `${g.bytesPerThreadStep} B of weights per invocation per step, ${g.bytesPerWorkgroupStep} B per workgroup, ${(g.bytesInFlightPerSm / 1024).toFixed(1)} KiB per SM`,
        );
        expect(g.workgroups).toBeGreaterThanOrEqual(512);
        expect(g.bytesInFlightPerSm).toBeGreaterThanOrEqual(14_000);
      }
    }
  });
});

function makeCase(rng: Rng, format: QuantFormat, m: number, n: number, k: number, scale = 0.5) {
  const bytes = encodeWeights(format, rng.normals(n * k, scale), n, k);
  const c: OpCase<QuantMatmulAttrs> = {
    label: `${format} M${m} N${n} K${k}`,
    attrs: { format, n, k, path: 'gemv' },
    inputs: [randomInput(rng, 'f32', [m, k]), { desc: { dtype: 'u8', shape: [bytes.length] }, data: bytes }],
  };
  return c;
}

describe(`chunked GEMV against the float64 oracle (${seedNote(seed)})`, () => {
  const rng = new Rng(seed);
  const cases: OpCase<QuantMatmulAttrs>[] = [];
  for (const format of QUANT_FORMATS) {
    const block = quantLayout(format).block;
    // N ragged against 2 and 4 rows per workgroup; K of one block (most invocations idle)
    cases.push(makeCase(rng, format, 1, 13, block));
    cases.push(makeCase(rng, format, 1, 2049, 2 * block));
    // K one step of 128 invocations × 32 weights plus a few chunks: a second, mostly idle step
    cases.push(makeCase(rng, format, 1, 9, 4096 + 2 * block));
    // the 8B K/V projection's shape
    cases.push(makeCase(rng, format, 1, 1024, 4096));
    // more than one activation row
    cases.push(makeCase(rng, format, 3, 21, 3 * block));
  }
  for (const { name, backend } of gpusOrSkip(gpus, 'webgpu: chunked GEMV')) {
    for (const c of cases) {
      it(`${name}: ${c.label}`, async () => {
        const r = await runCase(backend, quantMatmulOp, c);
        expect(r.skipped ?? '', 'the GEMV serves the case').toBe('');
        expect(r.message ?? 'ok').toBe('ok');
      });
    }
    for (const format of QUANT_FORMATS) {
      const c = makeCase(rng, format, 2, 11, 2 * quantLayout(format).block);
      it(`${name}: ${c.label} reduced in workgroup memory (subgroups off)`, async () => {
        chunkedGemvTuning.subgroups = false;
        try {
          const r = await runCase(backend, quantMatmulOp, c);
          expect(r.message ?? 'ok').toBe('ok');
        } finally {
          chunkedGemvTuning.subgroups = null;
        }
      });
      const o = makeCase(rng, format, 1, 7, 2 * quantLayout(format).block);
      it(`${name}: ${o.label} with 8 rows and 64 invocations a workgroup`, async () => {
        Object.assign(chunkedGemvTuning, { rows: 8, threads: 64 });
        try {
          const r = await runCase(backend, quantMatmulOp, o);
          expect(r.message ?? 'ok').toBe('ok');
        } finally {
          Object.assign(chunkedGemvTuning, { rows: null, threads: null });
        }
      });
    }
    // w4/w8 zero points that are not integers (our quantizer writes integers; the format allows any f16)
    for (const format of ['w4', 'w8'] as const) {
      const [n, k] = [9, 384];
      const c = makeCase(rng, format, 2, n, k);
      const bytes = Uint8Array.from(c.inputs[1]!.data as Uint8Array);
      const plane = new DataView(bytes.buffer, scalePlaneOffset(format, n, k));
      for (let g = 0; g < n * (k / 128); g++) {
        const zero = f16ToNumber(plane.getUint16(4 * g + 2, true));
        plane.setUint16(4 * g + 2, f16Bits(zero + [0.3125, -0.46875, 0][g % 3]!), true);
      }
      const fractional: OpCase<QuantMatmulAttrs> = {
        ...c,
        label: `${c.label}, fractional zero points`,
        inputs: [c.inputs[0]!, { ...c.inputs[1]!, data: bytes }],
      };
      it(`${name}: ${fractional.label}`, async () => {
        expect((await runCase(backend, quantMatmulOp, fractional)).message ?? 'ok').toBe('ok');
      });
    }
    // The check can fail: the kernel runs on the stored bytes and is judged against the oracle of
    // the same bytes with one code of row 3 changed, which it must miss.
    for (const format of QUANT_FORMATS) {
      const c = makeCase(rng, format, 1, 6, 2 * quantLayout(format).block);
      it(`${name}: ${c.label}: one changed code is caught`, async () => {
        const { k } = c.attrs;
        const changed = Float64Array.from(c.inputs[1]!.data as Uint8Array);
        expect(changed.length).toBe(weightBytes(format, 6, k));
        // a code byte of row 3, past its first block's header (Q4_K 16 bytes, Q6_K's ql come first)
        const header = format === 'q4_k' ? 16 : format === 'q8_0' || format === 'q4_0' ? 2 : 0;
        const at = 3 * rowBytes(format, k) + header + 7;
        changed[at] = changed[at]! ^ 0x11;
        const check: CheckFn<Attrs> = (attrs, [x], got, want, descs) =>
          quantMatmulOp.check!(attrs, [x!, changed], got, want, descs);
        const judgedOnChanged: OpSpec<Attrs> = { ...quantMatmulOp, check };
        expect((await runCase(backend, quantMatmulOp, c)).message ?? 'ok').toBe('ok');
        const miss = await runCase(backend, judgedOnChanged, c);
        expect(miss.message ?? 'ok').toMatch(/^1\/6 outside the f32 summation bound/);
      });
    }
  }
});
