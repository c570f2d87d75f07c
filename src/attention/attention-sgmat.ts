import type { Capabilities } from '../gpu/capabilities.js';
import type { AttentionKernelParams } from './attention-wgsl.js';
export const SGMAT_ROWS = 64;
export function sgmatWhyUnsupported(_caps: Capabilities, _p: AttentionKernelParams): string | null {
  return 'pending';
}
export function sgmatAttentionWgsl(_p: AttentionKernelParams, _caps: Capabilities): string {
  throw new Error('pending');
}
