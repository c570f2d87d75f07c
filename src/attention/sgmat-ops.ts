/**
 * The subgroup-matrix operations the tensor-core attention template is written in, as WGSL text:
 * either the real `chromium_experimental_subgroup_matrix` builtins (16×16×16, f16 operands, f32
 * results) or an exact emulation in which every invocation holds a whole 16×16 matrix in private
 * memory. The emulation exists so the template's logic (offsets, strides, barriers, softmax,
 * pipelining) is tested on devices without subgroup matrices — lavapipe in CI — since WGSL gives
 * no per-element access to a matrix, any consistent layout computes the same function.
 *
 * Staging arrays of f16 are `array<vec4<u32>>` (8 halves per element; offsets and strides count
 * elements, as Dawn does for such arrays); f32 arrays are plain `array<f32>`.
 */

export interface MatrixOps {
  readonly left: string;
  readonly right: string;
  readonly result: string;
  zero(kind: 'left' | 'right' | 'result'): string;
  /** Loads from workgroup array `buf`; `off` and `stride` are WGSL u32 expressions (constants in the hot loop). */
  load(kind: 'left' | 'right' | 'result', buf: string, off: number, stride: number, colMajor: boolean): string;
  store(buf: string, off: number, v: string, stride: number): string;
  mma(a: string, b: string, c: string): string;
  /** Module-scope prelude (enables, helper functions for the buffers named). */
  /** Statement run by invocation 0 at kernel start, before the first barrier. */
  readonly init: string;
  /** `f32Vec4`: the f32 buffers are `array<vec4<f32>>` (offsets and strides in vec4s). */
  prelude(f16Bufs: readonly string[], f32Bufs: readonly string[], f32Vec4?: boolean): string;
}

export const REAL_OPS: MatrixOps = {
  left: 'subgroup_matrix_left<f16, 16, 16>',
  right: 'subgroup_matrix_right<f16, 16, 16>',
  result: 'subgroup_matrix_result<f32, 16, 16>',
  zero(kind) { return `${this[kind]}()`; },
  load(kind, buf, off, stride, colMajor) {
    return `subgroupMatrixLoad<${this[kind]}, ${colMajor ? 'col_major' : 'row_major'}>(&${buf}, ${off}u, ${stride}u)`;
  },
  store: (buf, off, v, stride) => `subgroupMatrixStore<row_major>(&${buf}, ${off}u, ${v}, ${stride}u);`,
  mma: (a, b, c) => `subgroupMatrixMultiplyAccumulate(${a}, ${b}, ${c})`,
  init: '',
  // every subgroup works on its own rows: offsets differ per subgroup but are uniform within one
  prelude: () => 'enable f16;\nenable chromium_experimental_subgroup_matrix;\ndiagnostic(off, chromium.subgroup_matrix_uniformity);',
};

const M = 'array<f32, 256>';

export const EMULATED_OPS: MatrixOps = {
  left: M,
  right: M,
  result: M,
  zero: () => `${M}()`,
  load: (_kind, buf, off, stride, colMajor) => `emu_ld_${buf}(${off}u, ${stride}u, ${colMajor})`,
  store: (buf, off, v, stride) => `emu_st_${buf}(${off}u, ${v}, ${stride}u);`,
  mma: (a, b, c) => `emu_mma(${a}, ${b}, ${c})`,
  init: 'emu_n = 16u;',
  prelude(f16Bufs, f32Bufs, f32Vec4 = false) {
    const at = (b: string, idx: string) => (f32Vec4 ? `${b}[(${idx}) / 4u][(${idx}) % 4u]` : `${b}[${idx}]`);
    const w = f32Vec4 ? 4 : 1;
    // element (row i, column j): row-major at (off + i·stride) then j, column-major at (off + j·stride) then i
    const f16 = f16Bufs.map((b) => `fn emu_ld_${b}(off: u32, stride: u32, cm: bool) -> ${M} {
  var m: ${M};
  for (var i = 0u; i < emu_n; i++) {
    for (var j = 0u; j < emu_n; j++) {
      var h = (off + i * stride) * 8u + j;
      if (cm) { h = (off + j * stride) * 8u + i; }
      let v = unpack2x16float(${b}[h / 8u][(h % 8u) / 2u]);
      m[i * 16u + j] = select(v.x, v.y, (h & 1u) == 1u);
    }
  }
  return m;
}`);
    const f32 = f32Bufs.map((b) => `fn emu_ld_${b}(off: u32, stride: u32, cm: bool) -> ${M} {
  var m: ${M};
  for (var i = 0u; i < emu_n; i++) { for (var j = 0u; j < emu_n; j++) { m[i * 16u + j] = ${at(b, `(off + i * stride) * ${w}u + j`)}; } }
  return m;
}
fn emu_st_${b}(off: u32, m: ${M}, stride: u32) {
  for (var i = 0u; i < emu_n; i++) { for (var j = 0u; j < emu_n; j++) { ${at(b, `(off + i * stride) * ${w}u + j`)} = m[i * 16u + j]; } }
}`);
    // the inner trip count is read from memory so CPU compilers cannot unroll 4096 FMAs per call site
    return `var<workgroup> emu_n: u32;
fn emu_mma(a: ${M}, b: ${M}, c: ${M}) -> ${M} {
  var r = c;
  for (var i = 0u; i < emu_n; i++) {
    for (var j = 0u; j < emu_n; j++) {
      var s = r[i * 16u + j];
      for (var k = 0u; k < emu_n; k++) { s += a[i * 16u + k] * b[k * 16u + j]; }
      r[i * 16u + j] = s;
    }
  }
  return r;
}
${f16.join('\n')}
${f32.join('\n')}`;
  },
};
