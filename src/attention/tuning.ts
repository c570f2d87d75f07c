/**
 * Both attention templates' tuning overrides as one value that travels from BatchAttention's options
 * through the paged_attention op's attrs to the kernel, which resolves them against the defaults.
 */
import { type SgmatConfig, sgmatConfig } from './sgmat-config.js';
import { type StreamConfig, streamConfig } from './stream-config.js';

export interface AttentionTuning {
  readonly sgmat?: Partial<SgmatConfig>;
  readonly stream?: Partial<StreamConfig>;
}

/** The complete configurations `tuning` selects (the shipped defaults where it says nothing). */
export function resolveTuning(tuning: AttentionTuning | undefined): {
  readonly sgmat: SgmatConfig;
  readonly stream: StreamConfig;
} {
  return { sgmat: sgmatConfig(tuning?.sgmat), stream: streamConfig(tuning?.stream) };
}
