/** The RAG feature module: an IVF datastore in CPU memory, GPU/CPU search, lookahead prefetch. */
export * from './build.js';
export * from './exact.js';
export * from './gpu-cache.js';
export * from './ivf-format.js';
export * from './ivf-store.js';
export * from './kmeans.js';
export * from './probe.js';
export * from './search.js';
export * from './synthetic.js';
export * from './topk.js';
export * from './lookahead.js';
export * from './bag-of-words.js';
export * from './pipelines.js';
export * from './pipelines-retriever.js';
export * from './pipelines-store.js';
