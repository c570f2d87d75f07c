/**
 * Tile sizes of the f32 attention template, chosen from the device's workgroup storage: rows per
 * work item (TQ), keys per tile (TK). K and V tiles are staged in workgroup memory as f32 with one
 * vec4 of padding per row (so threads reading different rows hit different banks).
 */
import type { Capabilities } from '../backends/webgpu/capabilities.js';

export const HEAD_DIMS: readonly number[] = [64, 80, 96, 128, 256];
export const WORKGROUP = 128;

export interface TileConfig {
  readonly tileRows: number;
  readonly tileKeys: number;
  readonly sharedBytes: number;
}

export function sharedBytes(headDim: number, tileRows: number, tileKeys: number): number {
  const rowBytes = (headDim / 4 + 1) * 16;
  return rowBytes * (tileRows + 2 * tileKeys) + 4 * tileRows * tileKeys + 4 * 3 * tileRows + 64;
}

/** Largest key tile (64…8) that fits; null when even 8 keys do not. */
export function pickTileKeys(
  caps: Pick<Capabilities, 'maxComputeWorkgroupStorageSize'>,
  headDim: number,
  tileRows: number,
): TileConfig | null {
  for (const tk of [64, 32, 16, 8]) {
    const bytes = sharedBytes(headDim, tileRows, tk);
    if (bytes <= caps.maxComputeWorkgroupStorageSize) return { tileRows, tileKeys: tk, sharedBytes: bytes };
  }
  return null;
}

/** Rows per work item: decode packs a KV head's query-head group (capped at 16); prefill takes 16 rows (fewer when storage is short). */
export function defaultTileRows(
  caps: Pick<Capabilities, 'maxComputeWorkgroupStorageSize'>,
  headDim: number,
  group: number,
  decode: boolean,
): number {
  if (decode) return Math.min(16, 1 << Math.ceil(Math.log2(Math.max(1, group))));
  for (const tq of [16, 8, 4]) if (pickTileKeys(caps, headDim, tq)) return tq;
  return 1;
}

export class HeadDimError extends Error {
  constructor(headDim: number, why: string) {
    super(
      `attention: head dim ${headDim} is not supported on this device (${why})\n  → use head dims ${HEAD_DIMS.join(', ')} (multiples of 8) on a device with enough workgroup storage`,
    );
    this.name = 'HeadDimError';
  }
}

/** Why this head dim / tile cannot run here, or null. */
export function whyHeadDimUnsupported(
  caps: Pick<Capabilities, 'maxComputeWorkgroupStorageSize'>,
  headDim: number,
  tileRows: number,
): string | null {
  if (!(headDim % 8 === 0 && headDim >= 8 && headDim <= 256))
    return `head dim ${headDim} must be a multiple of 8 in 8…256`;
  if (!pickTileKeys(caps, headDim, tileRows)) {
    return `head dim ${headDim} with ${tileRows}-row tiles needs ${sharedBytes(headDim, tileRows, 8)} bytes of workgroup storage, the device has ${caps.maxComputeWorkgroupStorageSize}`;
  }
  return null;
}
