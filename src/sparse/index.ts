/** The sparse module's public surface. */
export * from './axes.js';
export * from './formats.js';
export * from './coo.js';
export * from './convert.js';
export { bucketWidth, hybFromCoo, cooFromHyb } from './hyb.js';
export * from './generate.js';
export * from './schedule.js';
export * from './device-layout.js';
export { type SpmmAttrs, type SddmmAttrs, SPARSE_OPS } from './ops.js';
export * from './upload.js';
export * from './tuner.js';
export { splitRows } from './row-split.js';
export { type ChainModel, h100Concurrent, modelSteps, spmmChainModel } from './critical-path.js';
