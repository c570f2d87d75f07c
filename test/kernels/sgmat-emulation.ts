/**
 * The three subgroup-matrix builtins written out in plain WGSL, so a tensor-core kernel's generated
 * shader runs on a device without subgroup matrices (lavapipe) with everything else as generated:
 * a matrix "load" keeps its offset and stride, the multiply-accumulate reads the operands from
 * memory there and then, each lane owning 8 of the 16×16 result elements, and a store writes a
 * lane's elements row-major. Left matrices may come from the activation buffer `a` (array<f16>) or
 * the staged `As`; right matrices from `Bs` (both staged arrays of vec4<u32>).
 */
import type { SubgroupMatrixConfig } from '../../src/backends/webgpu/capabilities.js';

export const LANES = 32;
export const EMULATED_CFG: SubgroupMatrixConfig = {
  componentType: 'f16',
  resultComponentType: 'f32',
  M: 16,
  N: 16,
  K: 16,
};
const PER_LANE = (EMULATED_CFG.M * EMULATED_CFG.N) / LANES;

/** Half h of an array of vec4<u32> (8 halves each) or of an array<f16>, as f32. */
function halfAt(src: string, h: string): string {
  return src === 'a' ? `f32(a[${h}])` : `unpack2x16float(${src}[(${h}) / 8u][((${h}) % 8u) / 2u])[(${h}) % 2u]`;
}

/** The generated WGSL with the subgroup-matrix builtins written out in plain WGSL. */
export function emulate(wgsl: string): string {
  const left = /subgroupMatrixLoad<subgroup_matrix_left<[^>]*>, row_major>\(&a,/.test(wgsl) ? 'a' : 'As';
  // offsets and strides count array elements: halves for array<f16>, 8 halves for vec4<u32>
  const unit = (src: string) => (src === 'a' ? '1u' : '8u');
  // loop bounds the shader compiler cannot fold (emu_k is 16 on every real dispatch), so the many
  // inlined calls stay loops rather than unrolled bodies that take minutes to compile in software
  const mma = `var<private> emu_k: u32;
fn emu_mma(l: vec2<u32>, q: vec2<u32>, c: array<f32, ${PER_LANE}>, lane: u32) -> array<f32, ${PER_LANE}> {
  var r = c;
  for (var i = 0u; i < ${PER_LANE}u; i++) {
    let e = lane * ${PER_LANE}u + i; let m = e / ${EMULATED_CFG.N}u; let n = e % ${EMULATED_CFG.N}u;
    var s = 0.0;
    for (var k = 0u; k < emu_k; k++) {
      let ha = l.x * ${unit(left)} + m * l.y * ${unit(left)} + k;
      let hb = q.x * 8u + n * q.y * 8u + k;
      s += ${halfAt(left, 'ha')} * ${halfAt('Bs', 'hb')};
    }
    r[i] += s;
  }
  return r;
}
`;
  const out = wgsl
    .replace('enable chromium_experimental_subgroup_matrix;\n', '')
    .replace('diagnostic(off, chromium.subgroup_matrix_uniformity);\n', '')
    .replace(/subgroup_matrix_result<f32, \d+, \d+>\(\)/g, `array<f32, ${PER_LANE}>()`)
    .replace(/subgroupMatrixLoad<subgroup_matrix_\w+<[^>]*>, \w+>\(&\w+, (.*), ([^,;]+)\);/g, 'vec2<u32>($1, $2);')
    .replace(
      /(\w+) = subgroupMatrixMultiplyAccumulate\((\w+), (\w+), (\w+)\);/g,
      `$1 = emu_mma($2, $3, $4, lid % ${LANES}u);`,
    )
    .replace(
      /subgroupMatrixStore<row_major>\(&Cs, ([^,]+), (\w+), (\d+)u\);/g,
      `for (var i = 0u; i < ${PER_LANE}u; i++) { let e = (lid % ${LANES}u) * ${PER_LANE}u + i; Cs[$1 + (e / ${EMULATED_CFG.N}u) * $3u + e % ${EMULATED_CFG.N}u] = $2[i]; }`,
    );
  if (/subgroupMatrix|subgroup_matrix/.test(out)) throw new Error('a subgroup-matrix builtin was left unemulated');
  return out
    .replace(/(@compute)/, `${mma}$1`)
    .replace(/(fn main\([^{]*\{)/, `$1\n  emu_k = select(${EMULATED_CFG.K}u, 0u, nwg.x == 0u);`);
}
