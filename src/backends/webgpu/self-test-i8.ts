/**
 * Self-test of an 8-bit subgroup-matrix configuration (i8 × i8 → i32 or u8 × u8 → u32). The shader
 * scalar type of an 8-bit component is the 32-bit integer, four components to a word, and what a
 * load's offset and stride count in such an array — its words or the 8-bit components — is not
 * settled between the proposal's text and implementations. One product with a non-zero offset and
 * a padded stride tells the two apart: the test runs it with each reading, and the reading that gives
 * the exact product is the device's (`packedUnits`); with neither, the configuration is not used.
 */
import type { SubgroupMatrixConfig } from './capabilities.js';
import { runOnce } from './self-test.js';

/** Words before each operand and words per operand row: both non-zero in every reading, so a wrong one shows. */
const OFFSET_WORDS = 4;

export interface PackedMatrixProbe {
  /** One workgroup of one subgroup: y [M·N] (f32) = the product, from ga and gb (the packed operands). */
  readonly wgsl: string;
  readonly a: Int32Array;
  readonly b: Int32Array;
  /** The exact product, row-major M × N. */
  readonly want: Float64Array;
}

/** The probe shader and data with offsets and strides written in `units`. */
export function packedMatrixProbe(
  cfg: SubgroupMatrixConfig,
  subgroupSize: number,
  units: 'word' | 'component',
): PackedMatrixProbe {
  const { M, N, K } = cfg;
  const signed = cfg.componentType === 'i8';
  const scalar = signed ? 'i32' : 'u32';
  const rowWords = K / 4 + 4; // K codes and a 16-byte pad
  const words = OFFSET_WORDS + Math.max(M, N) * rowWords;
  // operand values: a small pattern that covers negative codes (signed) and codes ≥ 128 (unsigned)
  const code = (i: number, j: number, salt: number) =>
    signed ? (((i * 37 + j * 11 + salt) % 61) - 30) * (j % 5 === 0 ? 4 : 1) : (i * 29 + j * 7 + salt) % 251;
  const pack = (rows: number, salt: number) => {
    const w = new Int32Array(words);
    for (let i = 0; i < rows; i++)
      for (let k = 0; k < K; k++) {
        const o = (OFFSET_WORDS + i * rowWords) * 4 + k;
        w[o >> 2] = w[o >> 2]! | ((code(i, k, salt) & 255) << ((o & 3) * 8));
      }
    return w;
  };
  const want = new Float64Array(M * N);
  for (let i = 0; i < M; i++)
    for (let j = 0; j < N; j++) for (let k = 0; k < K; k++) want[i * N + j]! += code(i, k, 3) * code(j, k, 17);
  const u = units === 'word' ? 1 : 4;
  const wgsl = /* wgsl */ `
enable chromium_experimental_subgroup_matrix;
@group(0) @binding(0) var<storage, read> ga: array<${scalar}>;
@group(0) @binding(1) var<storage, read> gb: array<${scalar}>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
var<workgroup> sa: array<${scalar}, ${words}>;
var<workgroup> sb: array<${scalar}, ${words}>;
var<workgroup> sc: array<${scalar}, ${M * N}>;
@compute @workgroup_size(${subgroupSize})
fn main(@builtin(local_invocation_index) t: u32) {
  for (var i = t; i < ${words}u; i += ${subgroupSize}u) { sa[i] = ga[i]; sb[i] = gb[i]; }
  workgroupBarrier();
  let l = subgroupMatrixLoad<subgroup_matrix_left<${cfg.componentType}, ${K}, ${M}>, row_major>(&sa, ${OFFSET_WORDS * u}u, ${rowWords * u}u);
  let r = subgroupMatrixLoad<subgroup_matrix_right<${cfg.componentType}, ${N}, ${K}>, col_major>(&sb, ${OFFSET_WORDS * u}u, ${rowWords * u}u);
  var c = subgroup_matrix_result<${cfg.resultComponentType}, ${N}, ${M}>();
  c = subgroupMatrixMultiplyAccumulate(l, r, c);
  subgroupMatrixStore<row_major>(&sc, 0u, c, ${N}u);
  workgroupBarrier();
  for (var i = t; i < ${M * N}u; i += ${subgroupSize}u) { y[i] = f32(sc[i]); }
}`;
  // row m of the left operand and column n of the right one (column-major) are K codes each
  return { wgsl, a: pack(M, 3), b: pack(N, 17), want };
}

/** null where the probe's product is exact, else the first difference. */
export function probeError(p: PackedMatrixProbe, got: Float32Array, cfg: SubgroupMatrixConfig, units: string) {
  for (let e = 0; e < p.want.length; e++)
    if (got[e] !== p.want[e])
      return `${cfg.componentType} ${cfg.M}x${cfg.N}x${cfg.K} product with offsets and strides in ${units}s wrong at (${Math.floor(e / cfg.N)}, ${e % cfg.N}): got ${got[e]}, want ${p.want[e]}`;
  return null;
}

async function tryUnits(
  device: GPUDevice,
  cfg: SubgroupMatrixConfig,
  subgroupSize: number,
  units: 'word' | 'component',
): Promise<string | null> {
  const p = packedMatrixProbe(cfg, subgroupSize, units);
  const got = await runOnce(
    device,
    p.wgsl,
    [new Float32Array(p.a.buffer), new Float32Array(p.b.buffer)],
    p.want.length,
    subgroupSize,
  );
  return typeof got === 'string' ? got : probeError(p, got, cfg, units);
}

/** The configuration with the units its loads count, or the reasons neither reading gave the exact product. */
export async function testPackedMatrix(
  device: GPUDevice,
  cfg: SubgroupMatrixConfig,
  subgroupSize: number,
): Promise<SubgroupMatrixConfig | string> {
  const errors: string[] = [];
  for (const units of ['word', 'component'] as const) {
    const err = await tryUnits(device, cfg, subgroupSize, units);
    if (!err) return { ...cfg, packedUnits: units };
    errors.push(err);
  }
  return errors.join('; ');
}
