/**
 * The RAG datastores a server (or `tessera rag ask`) answers from, each with the embedder its
 * passages were made with and, on a GPU backend, a cluster cache that lookahead prefetches into;
 * and the engine as the text generator pipelines call for their intermediate text.
 */
import type { Engine } from '../engine/engine.js';
import type { EngineTokenizer } from '../engine/tokenizer.js';
import {
  type Embedder,
  type GpuClusterCache,
  type TextGenerator,
  type TextStore,
  TextStoreRetriever,
} from '../rag/index.js';

export interface RagStore {
  /** What requests put in `rag.store`. */
  readonly name: string;
  readonly store: TextStore;
  readonly embed: Embedder;
  /** Clusters probed per query (default: a quarter of the clusters, at least 1). */
  readonly nprobe?: number;
  readonly cache?: GpuClusterCache;
}

export function retrieverFor(s: RagStore, k: number): TextStoreRetriever {
  const nprobe = s.nprobe ?? Math.max(1, Math.ceil(s.store.ivf.nlist / 4));
  return new TextStoreRetriever(s.store, s.embed, { k, nprobe, ...(s.cache ? { cache: s.cache } : {}) });
}

/**
 * Greedy generation on the engine: intermediate text is a query, so it is made reproducible.
 * Log-probabilities are asked of the engine only when the pipeline reads them (`onPiece`).
 */
export function engineGenerator(engine: Engine, tokenizer: EngineTokenizer, signal?: AbortSignal): TextGenerator {
  return async (prompt, o) => {
    signal?.throwIfAborted();
    const req = await engine.submit(tokenizer.encode(prompt), {
      maxTokens: o.maxTokens,
      temperature: 0,
      ...(o.onPiece ? { logprobs: true } : {}),
    });
    const onAbort = () => req.abort();
    signal?.addEventListener('abort', onAbort);
    let text = '';
    try {
      for await (const ev of req) {
        if (ev.type !== 'delta') continue;
        text += ev.text;
        o.onPiece?.({ text: ev.text, logprobs: ev.tokens.map((t) => t.logprob ?? 0) });
        o.onText?.(text);
        if (o.stopWhen?.(text)) break;
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
      req.abort();
    }
    return text;
  };
}
