/**
 * Types of graph-level values: tensors (dtype + symbolic shape, or only a rank when the shape is
 * not expressible), shapes as first-class values, tuples and functions.
 *
 * Example: `tensorType('f32', ['n', 4096])` prints as `Tensor((n, 4096), f32)`.
 */
import type { DType } from '../tensor/dtype.js';
import { type Sym, type SymLike, sym, toSym } from './sym/sym.js';

export interface TensorType {
  readonly k: 'tensor';
  readonly dtype: DType;
  /** Undefined when only the rank is known (shape deduction fell back); `matchCast` restores it. */
  readonly shape?: readonly Sym[];
  readonly rank: number;
}

export interface ShapeType {
  readonly k: 'shape';
  readonly dims?: readonly Sym[];
  readonly rank: number;
}

export interface TupleType {
  readonly k: 'tuple';
  readonly fields: readonly Type[];
}

export interface FuncType {
  readonly k: 'func';
  readonly params: readonly Type[];
  readonly ret: Type;
}

export type Type = TensorType | ShapeType | TupleType | FuncType;

/** Dimension arguments: numbers are constants, strings name symbolic variables. */
export type DimLike = SymLike | string;

export function dim(d: DimLike): Sym {
  return typeof d === 'string' ? sym(d) : toSym(d);
}

export function tensorType(dtype: DType, shape: readonly DimLike[]): TensorType {
  return { k: 'tensor', dtype, shape: shape.map(dim), rank: shape.length };
}

export function rankOnly(dtype: DType, rank: number): TensorType {
  return { k: 'tensor', dtype, rank };
}

export function shapeType(dims: readonly DimLike[]): ShapeType {
  return { k: 'shape', dims: dims.map(dim), rank: dims.length };
}

export function tupleType(fields: readonly Type[]): TupleType {
  return { k: 'tuple', fields };
}

export function funcType(params: readonly Type[], ret: Type): FuncType {
  return { k: 'func', params, ret };
}

export function isTensor(t: Type): t is TensorType {
  return t.k === 'tensor';
}

export function dimsString(dims: readonly Sym[]): string {
  return dims.length === 1 ? `(${dims[0]!.toString()},)` : `(${dims.map((d) => d.toString()).join(', ')})`;
}

export function typeToString(t: Type): string {
  switch (t.k) {
    case 'tensor':
      return t.shape ? `Tensor(${dimsString(t.shape)}, ${t.dtype})` : `Tensor(ndim=${t.rank}, ${t.dtype})`;
    case 'shape':
      return t.dims ? `Shape(${dimsString(t.dims)})` : `Shape(ndim=${t.rank})`;
    case 'tuple':
      return `Tuple(${t.fields.map(typeToString).join(', ')})`;
    case 'func':
      return `Func((${t.params.map(typeToString).join(', ')}) -> ${typeToString(t.ret)})`;
  }
}

/** Structural equality; symbolic dimensions compare by canonical form. */
export function typeEqual(a: Type, b: Type): boolean {
  return typeToString(a) === typeToString(b);
}

/** Every symbolic variable a type mentions. */
export function typeVars(t: Type): string[] {
  const out = new Set<string>();
  const go = (t: Type): void => {
    if (t.k === 'tensor') t.shape?.forEach((d) => d.vars().forEach((v) => out.add(v)));
    else if (t.k === 'shape') t.dims?.forEach((d) => d.vars().forEach((v) => out.add(v)));
    else if (t.k === 'tuple') t.fields.forEach(go);
    else {
      t.params.forEach(go);
      go(t.ret);
    }
  };
  go(t);
  return [...out].sort();
}
