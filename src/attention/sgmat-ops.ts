/**
 * The subgroup-matrix operations the tensor-core attention template is written in, as WGSL text:
 * either the real `chromium_experimental_subgroup_matrix` builtins (16×16×16, f16 operands, f32
 * results) or an exact emulation in which every invocation holds whole 16×16 matrices in private
 * memory. The emulation exists so the template's logic (offsets, strides, barriers, softmax,
 * pipelining) is tested against the float64 oracle on devices without subgroup matrices —
 * lavapipe in CI — since WGSL gives no per-element access to a matrix, any consistent layout
 * computes the same function.
 *
 * Emulated matrix variables are slot numbers into one private `array<f32>` (256 floats a slot):
 * passing 1 KB arrays by value made lavapipe's LLVM spend minutes per pipeline scalarising them,
 * while dynamically indexed slots stay in memory and compile quickly. Operations update slots in
 * place and return the slot, so the template reads the same in both forms:
 * `o = mma(p, load(…), o)`.
 *
 * Staging arrays of f16 are `array<vec4<u32>>` (8 halves per element; offsets and strides count
 * elements, as Dawn does for such arrays); f32 arrays are `array<f32>` or `array<vec4<f32>>`.
 */

export type MatrixKind = 'left' | 'right' | 'result';

export interface MatrixOps {
  /** Declares matrix variable `name` (zeroed). */
  declare(name: string, kind: MatrixKind): string;
  /** A zero matrix to assign to variable `into`. */
  zero(kind: MatrixKind, into: string): string;
  /**
   * Loads from workgroup array `buf` (`off`, `stride`: constants in the hot loop); `into` is the
   * variable the result is assigned to, or absent for a temporary used as an argument.
   */
  load(kind: MatrixKind, buf: string, off: number, stride: number, colMajor: boolean, into?: string): string;
  store(buf: string, off: number, v: string, stride: number): string;
  /** a·b + c, assigned back to c's variable. */
  mma(a: string, b: string, c: string): string;
  /** Statement run by invocation 0 at kernel start, before the first barrier. */
  readonly init: string;
  /**
   * Module-scope prelude (enables, helper functions for the buffers named); `f32Vec4`: the f32
   * buffers are `array<vec4<f32>>` (offsets and strides in vec4s); `slots`: matrix variables
   * alive at once, temporaries included.
   */
  prelude(f16Bufs: readonly string[], f32Bufs: readonly string[], f32Vec4: boolean, slots: number): string;
}

const TYPES: Record<MatrixKind, string> = {
  left: 'subgroup_matrix_left<f16, 16, 16>',
  right: 'subgroup_matrix_right<f16, 16, 16>',
  result: 'subgroup_matrix_result<f32, 16, 16>',
};

export const REAL_OPS: MatrixOps = {
  declare: (name, kind) => `var ${name} = ${TYPES[kind]}();`,
  zero: (kind) => `${TYPES[kind]}()`,
  load: (kind, buf, off, stride, colMajor) =>
    `subgroupMatrixLoad<${TYPES[kind]}, ${colMajor ? 'col_major' : 'row_major'}>(&${buf}, ${off}u, ${stride}u)`,
  store: (buf, off, v, stride) => `subgroupMatrixStore<row_major>(&${buf}, ${off}u, ${v}, ${stride}u);`,
  mma: (a, b, c) => `subgroupMatrixMultiplyAccumulate(${a}, ${b}, ${c})`,
  init: '',
  // every subgroup works on its own rows: offsets differ per subgroup but are uniform within one
  prelude: () =>
    'enable f16;\nenable chromium_experimental_subgroup_matrix;\ndiagnostic(off, chromium.subgroup_matrix_uniformity);',
};

/** A fresh emulation (its slot table is per generated kernel). */
export function emulatedOps(): MatrixOps {
  const slots = new Map<string, number>();
  // slot 0 is the temporary of loads used as arguments
  const slotOf = (name: string): number => {
    let s = slots.get(name);
    if (s === undefined) slots.set(name, (s = slots.size + 1));
    return s;
  };
  let declared = 0;
  return {
    declare: (name, _kind) => {
      declared = Math.max(declared, slotOf(name) + 1);
      return `var ${name} = emu_zero(${slotOf(name)}u);`;
    },
    zero: (_kind, into) => `emu_zero(${into})`,
    load: (_kind, buf, off, stride, colMajor, into) =>
      `emu_ld_${buf}(${off}u, ${stride}u, ${colMajor}, ${into ?? '0u'})`,
    store: (buf, off, v, stride) => `emu_st_${buf}(${off}u, ${v}, ${stride}u);`,
    mma: (a, b, c) => `emu_mma(${a}, ${b}, ${c})`,
    init: 'emu_n = 16u;',
    prelude(f16Bufs, f32Bufs, f32Vec4, count) {
      if (declared > count)
        throw new Error(`emulated matrices: ${declared} slots declared, prelude sized for ${count}`);
      const at = (b: string, idx: string) => (f32Vec4 ? `${b}[(${idx}) / 4u][(${idx}) % 4u]` : `${b}[${idx}]`);
      const w = f32Vec4 ? 4 : 1;
      // element (row i, column j): row-major at (off + i·stride) then j, column-major at (off + j·stride) then i
      const f16 = f16Bufs.map(
        (b) => `fn emu_ld_${b}(off: u32, stride: u32, cm: bool, s: u32) -> u32 {
  for (var i = 0u; i < emu_n; i++) {
    for (var j = 0u; j < emu_n; j++) {
      var h = (off + i * stride) * 8u + j;
      if (cm) { h = (off + j * stride) * 8u + i; }
      let v = unpack2x16float(${b}[h / 8u][(h % 8u) / 2u]);
      emu_m[s * 256u + i * 16u + j] = select(v.x, v.y, (h & 1u) == 1u);
    }
  }
  return s;
}`,
      );
      const f32 = f32Bufs.map(
        (b) => `fn emu_ld_${b}(off: u32, stride: u32, cm: bool, s: u32) -> u32 {
  for (var i = 0u; i < emu_n; i++) { for (var j = 0u; j < emu_n; j++) { emu_m[s * 256u + i * 16u + j] = ${at(b, `(off + i * stride) * ${w}u + j`)}; } }
  return s;
}
fn emu_st_${b}(off: u32, s: u32, stride: u32) {
  for (var i = 0u; i < emu_n; i++) { for (var j = 0u; j < emu_n; j++) { ${at(b, `(off + i * stride) * ${w}u + j`)} = emu_m[s * 256u + i * 16u + j]; } }
}`,
      );
      // trip counts come from memory so CPU compilers do not unroll 4096 FMAs per call site
      return `var<workgroup> emu_n: u32;
var<private> emu_m: array<f32, ${256 * Math.max(1, count)}>;
fn emu_zero(s: u32) -> u32 {
  for (var i = 0u; i < emu_n * emu_n; i++) { emu_m[s * 256u + i] = 0.0; }
  return s;
}
fn emu_mma(a: u32, b: u32, c: u32) -> u32 {
  for (var i = 0u; i < emu_n; i++) {
    for (var j = 0u; j < emu_n; j++) {
      var acc = emu_m[c * 256u + i * 16u + j];
      for (var k = 0u; k < emu_n; k++) { acc += emu_m[a * 256u + i * 16u + k] * emu_m[b * 256u + k * 16u + j]; }
      emu_m[c * 256u + i * 16u + j] = acc;
    }
  }
  return c;
}
${f16.join('\n')}
${f32.join('\n')}`;
    },
  };
}
