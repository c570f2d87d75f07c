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

async function tryUnits(
  device: GPUDevice,
  cfg: SubgroupMatrixConfig,
  subgroupSize: number,
  units: 'word' | 'component',
): Promise<string | null> {
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
  const a = pack(M, 3); // row m of the left operand: K codes
  const b = pack(N, 17); // column n of the right operand (column-major): K codes
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
  const got = await runOnce(
    device,
    wgsl,
    [new Float32Array(a.buffer), new Float32Array(b.buffer)],
    M * N,
    subgroupSize,
  );
  if (typeof got === 'string') return got;
  for (let i = 0; i < M; i++)
    for (let j = 0; j < N; j++) {
      let want = 0;
      for (let k = 0; k < K; k++) want += code(i, k, 3) * code(j, k, 17);
      if (got[i * N + j] !== want)
        return `${cfg.componentType} ${M}x${N}x${K} product with offsets and strides in ${units}s wrong at (${i}, ${j}): got ${got[i * N + j]}, want ${want}`;
    }
  return null;
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
