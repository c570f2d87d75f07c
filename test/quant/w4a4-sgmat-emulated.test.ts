/**
 * The W4A4 tensor-core GEMM (w4a4-sgmat-wgsl.ts) — staging and widening of 4-bit and INT8 outlier
 * weights, the per-group integer products, the per-group scaling, ragged M and N, more than one
 * row tile, the K split with a shorter last slice, both readings of 8-bit load units — checked
 * against the float64 oracle of the quantized math on a device without subgroup matrices
 * (lavapipe). The i8 subgroup-matrix builtins are replaced in the generated WGSL by plain WGSL of
 * the same meaning (a load keeps its offset and stride; the multiply-accumulate reads both operands'
 * bytes from workgroup memory there and then, each of 32 lanes owning 8 of the 16 × 16 i32 results);
 * the rest of the shader runs as generated. The builtins themselves, and which unit the device's
 * loads count, are checked on the device by the start-up self-test (self-test-i8.ts).
 */
import { describe, expect, it, vi } from 'vitest';
import type { SubgroupMatrixConfig } from '../../src/backends/webgpu/capabilities.js';
import type { OpCase } from '../../src/ops/op-spec.js';
import { quantizeActivations, quantizeW4a4Weights } from '../../src/quant/w4a4-format.js';
import { type W4a4SgmatTile, w4a4SgmatSplit, w4a4SgmatTile } from '../../src/quant/w4a4-sgmat-wgsl.js';
import { seedNote, testSeed } from '../../src/testing/seed.js';
import { Rng } from '../../src/util/rng.js';
import { gpuBackend, gpuSkipReason } from '../gpu-setup.js';
import { HEAVY, heavyTitle } from '../heavy.js';
import { dispatchLabels, emulatedBackend } from '../kernels/emulated-backend.js';
import { LANES } from '../kernels/sgmat-emulation.js';

const PER_LANE = 256 / LANES;

/** Set by the mutation test: a text replacement applied to the generated shader. */
let mutation: [string, string] | null = null;

vi.doMock('../../src/quant/w4a4-sgmat-wgsl.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/quant/w4a4-sgmat-wgsl.js')>();
  return {
    ...real,
    w4a4SgmatWgsl: (t: W4a4SgmatTile) => {
      let src = real.w4a4SgmatWgsl(t);
      if (mutation) {
        if (!src.includes(mutation[0])) throw new Error(`mutation target '${mutation[0]}' not in the shader`);
        src = src.replace(mutation[0], mutation[1]);
      }
      return emulate(src, t.unit);
    },
  };
});

/** The generated WGSL with the i8 subgroup-matrix builtins written out in plain WGSL. */
function emulate(wgsl: string, unit: W4a4SgmatTile['unit']): string {
  const unitBytes = unit === 'word' ? 4 : 1;
  // loop bounds the shader compiler cannot fold (emu_k is 32 on every real dispatch), so the
  // inlined calls stay loops rather than bodies unrolled for minutes in software
  const helpers = `var<private> emu_k: u32;
var<private> emu_lane: u32;
fn emu_byte(v: i32, b: u32) -> i32 { return (v << (24u - 8u * (b & 3u))) >> 24u; }
fn emu_mma(l: vec2<u32>, q: vec2<u32>, c: array<i32, ${PER_LANE}>) -> array<i32, ${PER_LANE}> {
  var r = c;
  for (var i = 0u; i < ${PER_LANE}u; i++) {
    let e = emu_lane * ${PER_LANE}u + i; let m = e / 16u; let n = e % 16u;
    var s = 0;
    for (var k = 0u; k < emu_k; k++) {
      let ba = (l.x + m * l.y) * ${unitBytes}u + k;
      let bb = (q.x + n * q.y) * ${unitBytes}u + k;
      s += emu_byte(Xs[ba >> 2u], ba) * emu_byte(Ws[bb >> 2u], bb);
    }
    r[i] += s;
  }
  return r;
}
`;
  const out = wgsl
    .replace('enable chromium_experimental_subgroup_matrix;\n', '')
    .replace('diagnostic(off, chromium.subgroup_matrix_uniformity);\n', '')
    .replace(/subgroup_matrix_result<i32, 16, 16>/g, `array<i32, ${PER_LANE}>`)
    .replace(
      /subgroupMatrixLoad<subgroup_matrix_\w+<i8, \d+, \d+>, \w+>\(&\w+, ([^,]+), ([^,)]+)\)/g,
      'vec2<u32>($1, $2)',
    )
    .replace(/subgroupMatrixMultiplyAccumulate\(/g, 'emu_mma(')
    .replace(
      /subgroupMatrixStore<row_major>\(&Cs, ([^,]+), (\w+), 16u\);/g,
      `for (var i = 0u; i < ${PER_LANE}u; i++) { let e = emu_lane * ${PER_LANE}u + i; Cs[$1 + e] = $2[i]; }`,
    );
  if (/subgroupMatrix|subgroup_matrix/.test(out)) throw new Error('a subgroup-matrix builtin was left unemulated');
  return out
    .replace(/(@compute)/, `${helpers}$1`)
    .replace(/(fn main\([^{]*\{)/, `$1\n  emu_k = select(32u, 0u, wid.z == 7u);\n  emu_lane = lid % ${LANES}u;`);
}

vi.resetModules();
await import('../../src/register-all.js');
const { WebGpuBackend } = await import('../../src/backends/webgpu/webgpu-backend.js');
const { atomMatmulOp } = await import('../../src/quant/w4a4-ops.js');
const { runCase } = await import('../../src/testing/conformance.js');

const seed = testSeed();
const rng = new Rng(seed);
const gpu = await gpuBackend();

/** Activations with one large channel in the outlier group, quantized per token as the quantizer does. */
function makeCase(m: number, n: number, k: number): OpCase {
  const x = rng.normals(m * k, 1);
  for (let r = 0; r < m; r++) {
    const j = r * k + k - 1 - rng.int(0, 127);
    x[j] = x[j]! * 30;
  }
  const a = quantizeActivations(x, m, k);
  const bytes = quantizeW4a4Weights(rng.normals(n * k, 0.5), n, k);
  return {
    label: `M${m} N${n} K${k}`,
    attrs: { n, k },
    inputs: [
      { desc: { dtype: 'i8', shape: [m, k] }, data: Int8Array.from(a.q) },
      { desc: { dtype: 'f32', shape: [m, k / 128] }, data: Float32Array.from(a.scale) },
      { desc: { dtype: 'u8', shape: [bytes.length] }, data: bytes },
    ],
  };
}

describe.skipIf(!gpu)(
  `W4A4 tensor-core GEMM, i8 subgroup matrices emulated (${seedNote(seed)})${gpu ? '' : ` (skipped: ${gpuSkipReason()})`}`,
  () => {
    const emu = (packedUnits: 'word' | 'component') => {
      const cfg: SubgroupMatrixConfig = {
        componentType: 'i8',
        resultComponentType: 'i32',
        M: 16,
        N: 16,
        K: 32,
        packedUnits,
      };
      return emulatedBackend(WebGpuBackend, gpu!, cfg);
    };

    /** Which kernel and tile served the case. */
    const labelOf = (b: InstanceType<typeof WebGpuBackend>, c: OpCase) => dispatchLabels(b, atomMatmulOp, c);

    type Case = [m: number, n: number, k: number, units: 'word' | 'component', label: RegExp];
    const check = async (cases: readonly Case[]) => {
      for (const [m, n, k, units, want] of cases) {
        const b = emu(units);
        const c = makeCase(m, n, k);
        expect(labelOf(b, c), c.label).toMatch(want);
        const r = await runCase(b, atomMatmulOp, c);
        expect(r.skipped ?? '', c.label).toBe('');
        expect(r.message ?? 'ok', `${c.label} (${units})`).toBe('ok');
      }
    };

    // K 1152 is 9 groups cut into slices of 5 and 4 (the last slice shorter); M 100 is two row tiles,
    // the second ragged; N 200 and 72 end inside a 64-row weight tile; M 48 parks its three result
    // matrices at once, M 100 (lavapipe's 32 KiB) one at a time
    it('ragged M and N, row tiles, the K split, the outlier group, both load units', async () => {
      await check([
        [16, 72, 1152, 'word', /atom_matmul\.sgmat\.mt1\.cs1\.word atom_matmul\.split-k-sum/],
        [48, 200, 256, 'word', /atom_matmul\.sgmat\.mt3\.cs3\.word$/],
        [100, 40, 384, 'component', /atom_matmul\.sgmat\.mt4\.cs1\.component$/],
      ]);
    }, 600_000);

    it('at the 8B K/V projection width N = 1024 and M = 64', async () => {
      await check([[64, 1024, 256, 'word', /atom_matmul\.sgmat\.mt4\.cs1\.word/]]);
    }, 600_000);

    it.skipIf(!HEAVY)(
      heavyTitle('the 8B q/o width N = 4096 at M = 16 and M = 100'),
      async () => {
        await check([
          [16, 4096, 512, 'word', /atom_matmul\.sgmat\.mt1/],
          [100, 4096, 384, 'component', /atom_matmul\.sgmat\.mt4/],
        ]);
      },
      1_800_000,
    );

    it('fails when a group takes the next group’s weight scale (the check can fail)', async () => {
      mutation = ['scaleW(min(n0 + row, u.n - 1u), gg)', 'scaleW(min(n0 + row, u.n - 1u), min(gg + 1u, G - 1u))'];
      try {
        const b = emu('word');
        const c = makeCase(16, 40, 512);
        const r = await runCase(b, atomMatmulOp, c);
        expect(r.skipped ?? '', c.label).toBe('');
        expect(r.message ?? 'ok', c.label).not.toBe('ok');
      } finally {
        mutation = null;
      }
    }, 600_000);

    it('leaves M < 16 and devices without i8 matrices to the dot4I8Packed kernels', () => {
      expect(labelOf(emu('word'), makeCase(9, 24, 256))).toBe('atom_matmul.gemm');
      expect(labelOf(gpu!, makeCase(16, 24, 256))).toBe('atom_matmul.gemm');
    });
  },
);

describe('W4A4 tensor-core GEMM tiles (no GPU needed)', () => {
  const I8: SubgroupMatrixConfig = { componentType: 'i8', resultComponentType: 'i32', M: 16, N: 16, K: 32 };
  const caps = (o: Partial<Record<string, unknown>> = {}) =>
    ({
      subgroupMatrix: [I8],
      subgroupMinSize: 32,
      subgroupMaxSize: 32,
      maxComputeWorkgroupStorageSize: 49152,
      maxComputeInvocationsPerWorkgroup: 1024,
      ...o,
    }) as Parameters<typeof w4a4SgmatTile>[1];
  it('parks all MT result matrices where 48 KiB allows, one at a time under 32 KiB', () => {
    expect([16, 48, 64, 100].map((m) => w4a4SgmatTile(m, caps()))).toEqual(
      [1, 3, 4, 4].map((MT) => ({ MT, CS: MT, SG: 32, unit: 'word' })),
    );
    expect(w4a4SgmatTile(64, caps({ maxComputeWorkgroupStorageSize: 32768 }))).toMatchObject({ MT: 4, CS: 1 });
    expect(w4a4SgmatTile(64, caps({ subgroupMatrix: [{ ...I8, packedUnits: 'component' }] }))).toMatchObject({
      unit: 'component',
    });
  });
  it('refuses without the i8 configuration, with a varying subgroup size, or too little storage (M 16 fits the WebGPU default)', () => {
    expect(w4a4SgmatTile(16, caps({ subgroupMatrix: [] }))).toMatch(/no i8/);
    expect(w4a4SgmatTile(16, caps({ subgroupMatrix: [{ ...I8, K: 16 }] }))).toMatch(/no i8/);
    expect(w4a4SgmatTile(16, caps({ subgroupMinSize: 16, subgroupMaxSize: 64 }))).toMatch(/subgroup size/);
    expect(w4a4SgmatTile(16, caps({ maxComputeWorkgroupStorageSize: 16384 }))).toMatchObject({ MT: 1, CS: 1 });
    expect(w4a4SgmatTile(64, caps({ maxComputeWorkgroupStorageSize: 16384 }))).toMatch(/workgroup storage/);
  });
  it('splits K into whole groups toward 512 workgroups, at least 4 groups a slice', () => {
    const t = { MT: 1, CS: 1, SG: 32, unit: 'word' } as const;
    expect(w4a4SgmatSplit(t, 16, 1024, 4096)).toEqual({ split: 8, gps: 4 });
    expect(w4a4SgmatSplit(t, 16, 14336, 4096)).toEqual({ split: 3, gps: 11 });
    expect(w4a4SgmatSplit(t, 16, 72, 1152)).toEqual({ split: 2, gps: 5 });
    expect(w4a4SgmatSplit(t, 16, 4096, 384)).toEqual({ split: 1, gps: 3 });
  });
});

if (!gpu) it.skip(`W4A4 tensor-core GEMM emulated (skipped: ${gpuSkipReason()})`, () => {});
