/**
 * ggml tensor types as GGUF stores them: the type id in each tensor info, and the block layout
 * (elements per block, bytes per block) that sizes its data. Sizes are listed for every type we
 * know, read or not, so a file's layout can be validated even when one tensor is in a type Tessera
 * cannot dequantize yet; only types in `READABLE_GGML_TYPES` can be loaded.
 */
export const GGML_TYPE = {
  F32: 0,
  F16: 1,
  Q4_0: 2,
  Q4_1: 3,
  Q5_0: 6,
  Q5_1: 7,
  Q8_0: 8,
  Q8_1: 9,
  Q2_K: 10,
  Q3_K: 11,
  Q4_K: 12,
  Q5_K: 13,
  Q6_K: 14,
  Q8_K: 15,
  IQ2_XXS: 16,
  IQ2_XS: 17,
  IQ3_XXS: 18,
  IQ1_S: 19,
  IQ4_NL: 20,
  IQ3_S: 21,
  IQ2_S: 22,
  IQ4_XS: 23,
  I8: 24,
  I16: 25,
  I32: 26,
  I64: 27,
  F64: 28,
  IQ1_M: 29,
  BF16: 30,
  TQ1_0: 34,
  TQ2_0: 35,
} as const;

export type GgmlTypeName = keyof typeof GGML_TYPE;

/** [elements per block, bytes per block], from ggml's type traits. */
const LAYOUT: Readonly<Record<GgmlTypeName, readonly [number, number]>> = {
  F32: [1, 4],
  F16: [1, 2],
  BF16: [1, 2],
  F64: [1, 8],
  I8: [1, 1],
  I16: [1, 2],
  I32: [1, 4],
  I64: [1, 8],
  Q4_0: [32, 18],
  Q4_1: [32, 20],
  Q5_0: [32, 22],
  Q5_1: [32, 24],
  Q8_0: [32, 34],
  Q8_1: [32, 36],
  Q2_K: [256, 84],
  Q3_K: [256, 110],
  Q4_K: [256, 144],
  Q5_K: [256, 176],
  Q6_K: [256, 210],
  Q8_K: [256, 292],
  IQ2_XXS: [256, 66],
  IQ2_XS: [256, 74],
  IQ3_XXS: [256, 98],
  IQ1_S: [256, 50],
  IQ4_NL: [32, 18],
  IQ3_S: [256, 110],
  IQ2_S: [256, 82],
  IQ4_XS: [256, 136],
  IQ1_M: [256, 56],
  TQ1_0: [256, 54],
  TQ2_0: [256, 66],
};

/** Types whose data Tessera turns into host arrays (float types dequantized or passed through). */
export const READABLE_GGML_TYPES: readonly GgmlTypeName[] = [
  'F32',
  'F16',
  'BF16',
  'Q8_0',
  'Q4_0',
  'Q4_K',
  'Q6_K',
  'I8',
  'I32',
];

const NAME_OF = new Map<number, GgmlTypeName>(Object.entries(GGML_TYPE).map(([k, v]) => [v, k as GgmlTypeName]));

export function ggmlTypeName(id: number): GgmlTypeName | undefined {
  return NAME_OF.get(id);
}

export function ggmlBlockLayout(type: GgmlTypeName): { blockElements: number; blockBytes: number } {
  const [blockElements, blockBytes] = LAYOUT[type];
  return { blockElements, blockBytes };
}

export function isQuantized(type: GgmlTypeName): boolean {
  return LAYOUT[type][0] > 1;
}

/** GGUF metadata value type ids, as the format numbers them. */
export const GGUF_VALUE_TYPE = {
  u8: 0,
  i8: 1,
  u16: 2,
  i16: 3,
  u32: 4,
  i32: 5,
  f32: 6,
  bool: 7,
  string: 8,
  array: 9,
  u64: 10,
  i64: 11,
  f64: 12,
} as const;

export type GgufScalarKind = Exclude<keyof typeof GGUF_VALUE_TYPE, 'array'>;
