/** A sparse matrix resident on a backend in its device layout, and SpMM on it through `Backend.run`. */
import type { Backend, Tensor } from '../backends/backend.js';
import { type SpmmOpName, deviceLayout } from './device-layout.js';
import type { SparseMatrix } from './formats.js';
import type { SpmmSchedule } from './schedule.js';

export interface ResidentSparse {
  readonly op: SpmmOpName;
  readonly m: number;
  readonly k: number;
  readonly attrs: Readonly<Record<string, unknown>>;
  readonly tensors: readonly Tensor[];
  free(): void;
}

export function upload(backend: Backend, a: SparseMatrix, label = 'sparse'): ResidentSparse {
  const dev = deviceLayout(a);
  const tensors = dev.arrays.map((arr, i) => {
    const t = backend.alloc(arr.desc, `${label}.${dev.op}.${i}`, 'sparse');
    backend.write(t, arr.data);
    return t;
  });
  return {
    op: dev.op,
    m: a.m,
    k: a.k,
    attrs: dev.attrs,
    tensors,
    free: () => tensors.forEach((t) => backend.free(t)),
  };
}

/** Enqueues y [m, f] = A · x [k, f] with `schedule`. */
export function spmm(backend: Backend, a: ResidentSparse, schedule: SpmmSchedule, x: Tensor, y: Tensor): void {
  backend.run(a.op, { ...a.attrs, schedule }, [...a.tensors, x], [y]);
}
