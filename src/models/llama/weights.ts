/**
 * Uploads a checkpoint's weights to a backend in the graph's parameter order, one tensor at a time
 * (peak host memory is one tensor), converting dtypes on the host where the checkpoint stores a
 * tensor in another type than the graph declares (e.g. GGUF keeps norms in f32).
 */
import type { Backend, Tensor } from '../../backends/backend.js';
import type { LlamaConfig } from './llama-config.js';
import { loadEach, type ProgressCallback, type TensorSource } from '../../io/tensor-source.js';
import { type DType, type HostArray, toFloat64, toHost } from '../../tensor/dtype.js';
import { weightNames } from './graph.js';

export async function uploadWeights(
  backend: Backend,
  cfg: LlamaConfig,
  source: TensorSource,
  dtype: DType,
  onProgress?: ProgressCallback,
): Promise<Tensor[]> {
  const names = weightNames(cfg);
  const byName = new Map<string, Tensor>();
  try {
    await loadEach(
      source,
      (name, data, info) => {
        const host: HostArray = info.dtype === dtype ? data : toHost(dtype, toFloat64(info.dtype, data));
        const t = backend.alloc({ dtype, shape: info.shape }, name, 'weights');
        backend.write(t, host);
        byName.set(name, t);
      },
      { names, onProgress },
    );
  } catch (e) {
    for (const t of byName.values()) backend.free(t);
    throw e;
  }
  return names.map((n) => byName.get(n)!);
}
