/**
 * Opening datastores built by `tessera rag index` for answering: the store folder, the embedder it
 * names, and, on a GPU backend, a cluster cache for lookahead within a byte budget.
 */
import type { Backend } from '../backends/backend.js';
import { type BackendChoice, openBackend } from '../backends/open.js';
import { GpuClusterCache } from '../rag/index.js';
import { loadTextStore } from './rag-store-file.js';
import type { RagStore } from '../server/rag-stores.js';
import { openTextEmbedder } from './rag-embedder.js';

export const DEFAULT_RAG_GPU_MIB = 256;

export async function openRagBackend(name?: string): Promise<Backend> {
  return openBackend(name ? { prefer: name as BackendChoice } : {});
}

export async function openRagStore(
  name: string,
  dir: string,
  backend: Backend,
  o: { gpuMiB?: number; nprobe?: number } = {},
): Promise<RagStore & { close(): void }> {
  const store = await loadTextStore(dir);
  const embedder = await openTextEmbedder(store.embedder, backend);
  const cache =
    backend.name === 'cpu'
      ? undefined
      : new GpuClusterCache(backend, store.ivf, (o.gpuMiB ?? DEFAULT_RAG_GPU_MIB) * 2 ** 20);
  return {
    name,
    store,
    embed: embedder.embed,
    ...(o.nprobe ? { nprobe: o.nprobe } : {}),
    ...(cache ? { cache } : {}),
    close: () => {
      // frees the clusters now, the staging ring once copies under way are submitted
      void cache?.close();
      embedder.close();
    },
  };
}

/** `name=folder` pairs of `serve --rag`. */
export function ragSpecs(specs: readonly string[]): { name: string; dir: string }[] {
  return specs.map((spec) => {
    const eq = spec.indexOf('=');
    if (eq < 1 || eq === spec.length - 1) throw new Error(`--rag takes name=<store folder>, got '${spec}'`);
    return { name: spec.slice(0, eq), dir: spec.slice(eq + 1) };
  });
}
