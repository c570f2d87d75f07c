/** Builds an IVF datastore: k-means centroids, then every vector assigned and laid out by cluster. */
import type { Backend } from '../backends/backend.js';
import { assignCpu, assignOnBackend, kmeans } from './kmeans.js';
import { type IvfStore, type VectorDType, layoutByCluster } from './ivf-store.js';

export interface BuildOptions {
  readonly nlist: number;
  readonly seed: number;
  readonly dtype?: VectorDType;
  readonly iterations?: number;
  /** Runs k-means' assignment steps and the final assignment (the CPU loops otherwise). */
  readonly backend?: Backend;
  /** The caller's id of each row (row numbers by default). */
  readonly ids?: Int32Array;
}

export async function buildIvf(
  vectors: Float32Array,
  d: number,
  opts: BuildOptions,
): Promise<IvfStore & { assignedOn: 'cpu' | 'backend' }> {
  const { centroids, assignedOn } = await kmeans(vectors, d, {
    k: opts.nlist,
    seed: opts.seed,
    iterations: opts.iterations,
    backend: opts.backend,
  });
  const labels = new Int32Array(vectors.length / d);
  if (assignedOn === 'backend') await assignOnBackend(opts.backend!, vectors, centroids, d, labels);
  else assignCpu(vectors, centroids, d, labels);
  return { ...layoutByCluster(vectors, d, labels, centroids, opts.dtype ?? 'f32', opts.ids), assignedOn };
}
