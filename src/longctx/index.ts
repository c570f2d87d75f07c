export * from './simhash.js';
export * from './collision.js';
export * from './lsh-index.js';
export * from './sampled-attention.js';
export * from './exact.js';
export * from './synthetic.js';
