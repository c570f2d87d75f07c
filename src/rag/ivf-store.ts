/**
 * An IVF datastore in CPU memory: centroids, and each cluster's vectors (f32 or f16) and ids laid
 * out contiguously, cluster after cluster, so uploading a cluster to the GPU is one copy of one
 * slice and scanning it on the CPU walks memory in order.
 */
import { f16Bits, f16ToNumber } from '../tensor/dtype.js';

export type VectorDType = 'f32' | 'f16';

export interface IvfStore {
  readonly d: number;
  readonly nlist: number;
  readonly dtype: VectorDType;
  /** [nlist, d] */
  readonly centroids: Float32Array;
  /** Cluster c holds rows [offsets[c], offsets[c+1]). */
  readonly offsets: Int32Array;
  /** The caller's id of each row. */
  readonly ids: Int32Array;
  /** [n, d]: f32 values, or f16 bit patterns. */
  readonly vectors: Float32Array | Uint16Array;
}

export function storeSize(s: IvfStore): number {
  return s.ids.length;
}

export function clusterRows(s: IvfStore, c: number): number {
  return s.offsets[c + 1]! - s.offsets[c]!;
}

export function clusterBytes(s: IvfStore, c: number): number {
  return clusterRows(s, c) * s.d * (s.dtype === 'f16' ? 2 : 4);
}

/** Cluster c's vectors as stored (a view, no copy). */
export function clusterVectors(s: IvfStore, c: number): Float32Array | Uint16Array {
  return s.vectors.subarray(s.offsets[c]! * s.d, s.offsets[c + 1]! * s.d);
}

/** Lays out `vectors` [n, d] by cluster label, keeping input order inside a cluster. */
export function layoutByCluster(
  vectors: Float32Array,
  d: number,
  labels: Int32Array,
  centroids: Float32Array,
  dtype: VectorDType,
  ids?: Int32Array,
): IvfStore {
  const n = labels.length;
  const nlist = centroids.length / d;
  const offsets = new Int32Array(nlist + 1);
  for (let i = 0; i < n; i++) offsets[labels[i]! + 1]!++;
  for (let c = 0; c < nlist; c++) offsets[c + 1]! += offsets[c]!;
  const next = offsets.slice(0, nlist);
  const outIds = new Int32Array(n);
  const out = dtype === 'f16' ? new Uint16Array(n * d) : new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const r = next[labels[i]!]!++;
    outIds[r] = ids ? ids[i]! : i;
    const src = vectors.subarray(i * d, (i + 1) * d);
    if (out instanceof Float32Array) out.set(src, r * d);
    else for (let j = 0; j < d; j++) out[r * d + j] = f16Bits(src[j]!);
  }
  return { d, nlist, dtype, centroids, offsets, ids: outIds, vectors: out };
}

let f16Table: Float32Array | null = null;

/** Every f16 bit pattern's value, so decoding a cluster is one table read per element. */
export function f16DecodeTable(): Float32Array {
  if (!f16Table) {
    f16Table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) f16Table[h] = f16ToNumber(h);
  }
  return f16Table;
}

/** Cluster c's vectors as f32 (decoded into `scratch` when stored as f16). */
export function clusterF32(s: IvfStore, c: number, scratch?: Float32Array): Float32Array {
  const v = clusterVectors(s, c);
  if (v instanceof Float32Array) return v;
  const table = f16DecodeTable();
  const out = scratch && scratch.length >= v.length ? scratch.subarray(0, v.length) : new Float32Array(v.length);
  for (let i = 0; i < v.length; i++) out[i] = table[v[i]!]!;
  return out;
}
