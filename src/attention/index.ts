/** The attention engine (FlashInfer on WebGPU): paged KV, plan/run, variants, cascade. */
export * from './kv-layout.js';
export * from './page-table.js';
export * from './variants.js';
export * from './plan.js';
export * from './reference.js';
export {
  ATTENTION_OPS,
  type PagedAttentionAttrs,
  type AppendKvAttrs,
  type MergeStatesAttrs,
  attentionCase,
  attentionTolerance,
} from './ops.js';
export { HEAD_DIMS, HeadDimError, defaultTileRows, whyHeadDimUnsupported } from './tile-config.js';
