/**
 * SparseTIR's axis kinds: every format below is a stack of axes, each dense or sparse (whether it
 * stores coordinates) and fixed or variable (whether each parent has the same number of
 * children). The kernels read a format through these kinds: a sparse-variable axis is a loop over
 * `indptr[i]..indptr[i+1]`, a sparse-fixed axis a loop of constant trip count over stored
 * coordinates, a dense-fixed axis a plain loop, a dense-variable axis a loop of per-parent length.
 */
export type AxisKind = 'dense-fixed' | 'dense-variable' | 'sparse-fixed' | 'sparse-variable';

export interface Axis {
  readonly name: string;
  readonly kind: AxisKind;
  /** The coordinate range of the axis (rows, columns, block rows …). */
  readonly length: number;
  /** The axis this one nests in; absent for a root. */
  readonly parent?: string;
  /** Children per parent for fixed axes below a parent (ELL width, block size, 1 for COO's column). */
  readonly perParent?: number;
}

export function isSparse(a: Axis): boolean {
  return a.kind === 'sparse-fixed' || a.kind === 'sparse-variable';
}

export function isVariable(a: Axis): boolean {
  return a.kind === 'dense-variable' || a.kind === 'sparse-variable';
}
