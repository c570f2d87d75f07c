/**
 * The weight-only tensor-core GEMM (quant-sgmat-wgsl.ts) — weights of each format decoded to f16
 * tiles, activations rounded to f16, the two-stage pipeline, ragged M and N, two row tiles, the K
 * split with a shorter last slice — checked against the float64 oracle of the dequantized weights
 * (with the bound of f16 operands) on a device without subgroup matrices (lavapipe). The f16
 * subgroup-matrix builtins are replaced in the generated WGSL by plain WGSL of the same meaning,
 * as in test/kernels/skinny-gemm-sgmat-emulated.test.ts; the rest of the shader runs as generated.
 */
import { describe, expect, it, vi } from 'vitest';
import type { OpCase } from '../../src/ops/op-spec.js';
import { randomInput } from '../../src/ops/test-data.js';
import { encodeWeights } from '../../src/quant/codec.js';
import type { QuantFormat } from '../../src/quant/formats.js';
import type { Capabilities } from '../../src/backends/capabilities.js';
import { type QuantSgmatTile, quantSgmatSplit, quantSgmatTile } from '../../src/quant/quant-sgmat-wgsl.js';
import { seedNote, testSeed } from '../../src/testing/seed.js';
import { Rng } from '../../src/util/rng.js';
import { gpuBackend, gpuSkipReason } from '../gpu-setup.js';
import { dispatchLabels, emulatedBackend } from '../kernels/emulated-backend.js';
import { EMULATED_CFG as CFG, LANES } from '../kernels/sgmat-emulation.js';

const PER_LANE = 256 / LANES;

/** Set by the mutation test: a text replacement applied to the generated shader. */
let mutation: [string, string] | null = null;

vi.doMock('../../src/quant/quant-sgmat-wgsl.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/quant/quant-sgmat-wgsl.js')>();
  return {
    ...real,
    quantSgmatWgsl: (format: QuantFormat, t: QuantSgmatTile) => {
      let src = real.quantSgmatWgsl(format, t);
      if (mutation) {
        if (!src.includes(mutation[0])) throw new Error(`mutation target '${mutation[0]}' not in the shader`);
        src = src.replace(mutation[0], mutation[1]);
      }
      return emulate(src);
    },
  };
});

/** The generated WGSL with the f16 subgroup-matrix builtins written out in plain WGSL. */
function emulate(wgsl: string): string {
  // offsets and strides count vec4<u32> elements, 8 halves each; emu_k is 16 on every real
  // dispatch but not foldable, so the inlined calls stay loops (software compile time)
  const half = (arr: string, h: string) => `unpack2x16float(${arr}[(${h}) / 8u][((${h}) % 8u) / 2u])[(${h}) % 2u]`;
  const helpers = `var<private> emu_k: u32;
var<private> emu_lane: u32;
fn emu_mma(l: vec2<u32>, q: vec2<u32>, c: array<f32, ${PER_LANE}>) -> array<f32, ${PER_LANE}> {
  var r = c;
  for (var i = 0u; i < ${PER_LANE}u; i++) {
    let e = emu_lane * ${PER_LANE}u + i; let m = e / 16u; let n = e % 16u;
    var s = 0.0;
    for (var k = 0u; k < emu_k; k++) {
      let ha = (l.x + m * l.y) * 8u + k;
      let hb = (q.x + n * q.y) * 8u + k;
      s += ${half('Xs', 'ha')} * ${half('Ws', 'hb')};
    }
    r[i] += s;
  }
  return r;
}
`;
  const out = wgsl
    .replace('enable chromium_experimental_subgroup_matrix;\n', '')
    .replace('diagnostic(off, chromium.subgroup_matrix_uniformity);\n', '')
    .replace(/subgroup_matrix_result<f32, 16, 16>/g, `array<f32, ${PER_LANE}>`)
    .replace(
      /subgroupMatrixLoad<subgroup_matrix_\w+<f16, \d+, \d+>, \w+>\(&\w+, ([^,]+), ([^,)]+)\)/g,
      'vec2<u32>($1, $2)',
    )
    .replace(/subgroupMatrixMultiplyAccumulate\(/g, 'emu_mma(')
    .replace(
      /subgroupMatrixStore<row_major>\(&Cs, ([^,]+), (\w+), 16u\);/g,
      `for (var i = 0u; i < ${PER_LANE}u; i++) { Cs[$1 + emu_lane * ${PER_LANE}u + i] = $2[i]; }`,
    );
  if (/subgroupMatrix|subgroup_matrix/.test(out)) throw new Error('a subgroup-matrix builtin was left unemulated');
  return out
    .replace(/(@compute)/, `${helpers}$1`)
    .replace(/(fn main\([^{]*\{)/, `$1\n  emu_k = select(16u, 0u, wid.z == 7u);\n  emu_lane = lid % ${LANES}u;`);
}

vi.resetModules();
await import('../../src/register-all.js');
const { WebGpuBackend } = await import('../../src/backends/webgpu/webgpu-backend.js');
const { quantMatmulOp } = await import('../../src/quant/ops.js');
const { runCase } = await import('../../src/testing/conformance.js');

const seed = testSeed();
const rng = new Rng(seed);
const gpu = await gpuBackend();

function makeCase(format: QuantFormat, m: number, n: number, k: number, f16Operands = true): OpCase {
  const bytes = encodeWeights(format, rng.normals(n * k, 0.5), n, k);
  return {
    label: `${format} M${m} N${n} K${k}`,
    attrs: { format, n, k, f16Operands },
    inputs: [randomInput(rng, 'f32', [m, k]), { desc: { dtype: 'u8', shape: [bytes.length] }, data: bytes }],
  };
}

describe.skipIf(!gpu?.caps.f16)(
  `weight-only tensor-core GEMM, f16 subgroup matrices emulated (${seedNote(seed)})`,
  () => {
    const emu = () => emulatedBackend(WebGpuBackend, gpu!);
    /** Which kernel and tile served the case. */
    const labelOf = (b: InstanceType<typeof WebGpuBackend>, c: OpCase) => dispatchLabels(b, quantMatmulOp, c);

    const check = async (cases: readonly [QuantFormat, number, number, number, RegExp][]) => {
      const b = emu();
      for (const [format, m, n, k, want] of cases) {
        const c = makeCase(format, m, n, k);
        expect(labelOf(b, c), c.label).toMatch(want);
        const r = await runCase(b, quantMatmulOp, c);
        expect(r.skipped ?? '', c.label).toBe('');
        expect(r.message ?? 'ok', c.label).toBe('ok');
      }
    };

    // w4 K 896 is 28 steps of 32 in slices of 10, 10 and 8; q8_0 K 800 is 25 blocks of 32 (no
    // multiple of 64 or 128); M 100 is two row tiles, the second ragged; N 200, 72 and 40 end inside
    // a weight tile (of 128 rows at TN 2, 64 at TN 1); N 1024 is the 8B K/V projection
    it('w4, w8, q4_k, q8_0, q6_k: ragged M and N, row tiles, one and two weight tiles a subgroup, the K split', async () => {
      await check([
        ['w4', 16, 72, 896, /quant_matmul\.sgmat\.w4\.mt1\.tn2 quant_matmul\.split-k-sum/],
        ['w8', 64, 200, 256, /quant_matmul\.sgmat\.w8\.mt4\.tn1$/],
        ['q4_k', 100, 40, 512, /quant_matmul\.sgmat\.q4_k\.mt4\.tn1/],
        ['q8_0', 16, 1024, 800, /quant_matmul\.sgmat\.q8_0\.mt1\.tn2/],
        ['q6_k', 40, 200, 256, /quant_matmul\.sgmat\.q6_k\.mt3\.tn2$/],
      ]);
    }, 600_000);

    it('fails when a w4 weight takes the next group’s scale (the check can fail)', async () => {
      mutation = ['+ k / 128u]', '+ min(k / 128u + 1u, K / 128u - 1u)]'];
      try {
        const c = makeCase('w4', 16, 40, 512);
        const r = await runCase(emu(), quantMatmulOp, c);
        expect(r.skipped ?? '', c.label).toBe('');
        expect(r.message ?? 'ok', c.label).not.toBe('ok');
      } finally {
        mutation = null;
      }
    }, 600_000);

    it('runs only with f16Operands, 16 ≤ M, and f16 subgroup matrices on the device', () => {
      expect(labelOf(emu(), makeCase('w4', 16, 24, 256, false))).toMatch(/^quant_matmul\.batched/);
      expect(labelOf(emu(), makeCase('w4', 15, 24, 256))).toMatch(/^quant_matmul\.batched/);
      expect(labelOf(gpu!, makeCase('w4', 16, 24, 256))).toMatch(/^quant_matmul\.batched/);
    });
  },
);

describe('weight-only tensor-core GEMM tiles (no GPU needed)', () => {
  const caps = (o: Partial<Record<string, unknown>> = {}) =>
    ({
      f16: true,
      subgroupMatrix: [CFG],
      subgroupMinSize: 32,
      subgroupMaxSize: 32,
      maxComputeWorkgroupStorageSize: 32768,
      maxComputeInvocationsPerWorkgroup: 1024,
      ...o,
    }) as unknown as Capabilities;
  it('takes 16..256 rows in 16-row matrices, up to 4 a workgroup; two weight tiles a subgroup where they fit', () => {
    expect([16, 17, 48, 64, 100, 256].map((m) => quantSgmatTile(m, caps()))).toEqual(
      [1, 2, 3, 4, 4, 4].map((MT) => ({ MT, TN: MT < 4 ? 2 : 1, SG: 32 })),
    );
    expect(quantSgmatTile(64, caps({ maxComputeWorkgroupStorageSize: 49152 }))).toEqual({ MT: 4, TN: 2, SG: 32 });
    expect(quantSgmatTile(15, caps())).toMatch(/16\.\.256 rows/);
    expect(quantSgmatTile(257, caps())).toMatch(/16\.\.256 rows/);
  });
  it('refuses without f16, without the f16 configuration, or with too little storage', () => {
    expect(quantSgmatTile(16, caps({ f16: false }))).toMatch(/no f16/);
    expect(quantSgmatTile(16, caps({ subgroupMatrix: [{ ...CFG, resultComponentType: 'f16' }] }))).toMatch(/no f16/);
    expect(quantSgmatTile(64, caps({ maxComputeWorkgroupStorageSize: 16384 }))).toMatch(/workgroup storage/);
  });
  it('splits K into 32-value steps toward 512 workgroups, at least 8 steps a slice', () => {
    const t = { MT: 1, TN: 1, SG: 32 };
    expect(quantSgmatSplit(t, 16, 1024, 4096)).toEqual({ split: 16, kc: 256 });
    expect(quantSgmatSplit(t, 16, 72, 896)).toEqual({ split: 3, kc: 320 });
  });
});

if (!gpu) it.skip(`weight-only tensor-core GEMM emulated (skipped: ${gpuSkipReason()})`, () => {});
else if (!gpu.caps.f16)
  it.skip('weight-only tensor-core GEMM emulated (skipped: the device has no shader-f16)', () => {});
