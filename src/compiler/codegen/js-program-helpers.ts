/**
 * The functions generated JavaScript tensor programs call (handed in as parameters, never looked
 * up globally): f32 rounding, 16-bit float loads and stores through `src/tensor/dtype.ts`'s
 * conversions, and the expression language's helpers in f32. The helpers follow the CPU backend's
 * elementwise op (`f32-expr.ts`): sigmoid through exp of a non-positive argument (never
 * overflows), every intermediate rounded to f32.
 */
import { bf16Bits, bf16ToNumber, f16Bits, f16ToNumber } from '../../tensor/dtype.js';

const fr = Math.fround;
const SQRT_2_OVER_PI = fr(Math.sqrt(2 / Math.PI));

/** Every f16 bit pattern's value (256 KiB): a load is one indexed read. */
let f16Table: Float32Array | undefined;
function f16Values(): Float32Array {
  if (!f16Table) {
    f16Table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) f16Table[h] = f16ToNumber(h);
  }
  return f16Table;
}

function sigmoid(a: number): number {
  const e = fr(Math.exp(-Math.abs(a)));
  return a >= 0 ? fr(1 / fr(1 + e)) : fr(e / fr(1 + e));
}

function gelu(a: number): number {
  const inner = fr(SQRT_2_OVER_PI * fr(a + fr(fr(fr(0.044715 * a) * a) * a)));
  return fr(fr(0.5 * a) * fr(1 + fr(Math.tanh(inner))));
}

/** Floor division and modulo of i32 values (round toward −∞, as WGSL's `tess_fdiv`/`tess_fmod`). */
const fdiv = (a: number, b: number): number => Math.floor(a / b) | 0;
const fmod = (a: number, b: number): number => (a - Math.imul(b, Math.floor(a / b) | 0)) | 0;

export interface JsHelpers {
  readonly tess_fr: (x: number) => number;
  readonly tess_f16: Float32Array;
  readonly tess_bf16: (bits: number) => number;
  readonly tess_f16Bits: (x: number) => number;
  readonly tess_bf16Bits: (x: number) => number;
  readonly tess_sigmoid: (x: number) => number;
  readonly tess_silu: (x: number) => number;
  readonly tess_tanh: (x: number) => number;
  readonly tess_gelu: (x: number) => number;
  readonly tess_fdiv: (a: number, b: number) => number;
  readonly tess_fmod: (a: number, b: number) => number;
}

/** Built on first use (the f16 table is only needed where a CPU program runs). */
export function jsHelpers(): JsHelpers {
  return {
    tess_fr: fr,
    tess_f16: f16Values(),
    tess_bf16: bf16ToNumber,
    tess_f16Bits: f16Bits,
    tess_bf16Bits: bf16Bits,
    tess_sigmoid: sigmoid,
    tess_silu: (a) => fr(a * sigmoid(a)),
    tess_tanh: (a) => fr(Math.tanh(a)),
    tess_gelu: gelu,
    tess_fdiv: fdiv,
    tess_fmod: fmod,
  };
}

export const JS_HELPER_NAMES: readonly (keyof JsHelpers)[] = [
  'tess_fr',
  'tess_f16',
  'tess_bf16',
  'tess_f16Bits',
  'tess_bf16Bits',
  'tess_sigmoid',
  'tess_silu',
  'tess_tanh',
  'tess_gelu',
  'tess_fdiv',
  'tess_fmod',
];
