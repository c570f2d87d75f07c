/**
 * The functions generated JavaScript tensor programs call (handed in as parameters, never looked
 * up globally): f32 rounding, 16-bit float loads and stores through `src/tensor/dtype.ts`'s
 * conversions, and each unary op of the expression language in f32 as `tess_<op>`, taken from
 * `src/ops/expr-f32.ts` (the table the CPU backend's elementwise op uses too).
 */
import type { UnaryOp } from '../../ops/expr.js';
import { UNARY_F32 } from '../../ops/expr-f32.js';
import { bf16Bits, bf16ToNumber, f16Bits, f16ToNumber } from '../../tensor/dtype.js';

const fr = Math.fround;

/** Every f16 bit pattern's value (256 KiB): a load is one indexed read. */
let f16Table: Float32Array | undefined;
function f16Values(): Float32Array {
  if (!f16Table) {
    f16Table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) f16Table[h] = f16ToNumber(h);
  }
  return f16Table;
}

/** Floor division and modulo of i32 values (round toward −∞, as WGSL's `tess_fdiv`/`tess_fmod`). */
const fdiv = (a: number, b: number): number => Math.floor(a / b) | 0;
const fmod = (a: number, b: number): number => (a - Math.imul(b, Math.floor(a / b) | 0)) | 0;

type UnaryHelpers = { readonly [K in UnaryOp as `tess_${K}`]: (x: number) => number };

export interface JsHelpers extends UnaryHelpers {
  readonly tess_fr: (x: number) => number;
  readonly tess_f16: Float32Array;
  readonly tess_bf16: (bits: number) => number;
  readonly tess_f16Bits: (x: number) => number;
  readonly tess_bf16Bits: (x: number) => number;
  readonly tess_fdiv: (a: number, b: number) => number;
  readonly tess_fmod: (a: number, b: number) => number;
}

/** Each unary op of the expression language as `tess_<op>`, from the one f32 table. */
function unaryHelpers(): UnaryHelpers {
  return Object.fromEntries(Object.entries(UNARY_F32).map(([op, fn]) => [`tess_${op}`, fn])) as UnaryHelpers;
}

/** Built on first use (the f16 table is only needed where a CPU program runs). */
export function jsHelpers(): JsHelpers {
  return {
    ...unaryHelpers(),
    tess_fr: fr,
    tess_f16: f16Values(),
    tess_bf16: bf16ToNumber,
    tess_f16Bits: f16Bits,
    tess_bf16Bits: bf16Bits,
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
  'tess_fdiv',
  'tess_fmod',
  ...(Object.keys(UNARY_F32) as UnaryOp[]).map((op) => `tess_${op}` as const),
];
