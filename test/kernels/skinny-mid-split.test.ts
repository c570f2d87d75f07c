/** The mid-M skinny GEMM's split of K across workgroups (`midSplit`) on the 8B shapes and ragged ones. */
import { describe, expect, it } from 'vitest';
import {
  MID_TARGET_WORKGROUPS,
  type SkinnyMidParams,
  midSplit,
  skinnyParamsProblem,
  skinnySharedBytes,
} from '../../src/kernels/skinny-gemm-params.js';

const T: SkinnyMidParams = { variant: 'mid', WM: 2, WN: 2, TM: 4, TN: 4, BK: 32, D: 2, SK: 8 };
const CAPS = {
  subgroups: true,
  subgroupMinSize: 32,
  subgroupMaxSize: 32,
  subgroupMatrix: [{ componentType: 'f16', resultComponentType: 'f32', M: 16, N: 16, K: 16 }],
  maxComputeWorkgroupStorageSize: 49152,
  maxComputeInvocationsPerWorkgroup: 1024,
  maxComputeWorkgroupSizeX: 1024,
} as const;

describe('mid-M K split', () => {
  it('splits narrow grids up to SK, keeps whole grids whole, and never leaves a split empty', () => {
    // 4096² at M = 128: 32 tiles of 128×128, so 8 splits of 512
    expect(midSplit(T, 128, 4096, 4096, 16, 16)).toEqual({ split: 8, kLen: 512 });
    expect(midSplit({ ...T, SK: 2 }, 128, 4096, 4096, 16, 16)).toEqual({ split: 2, kLen: 2048 });
    // the lm_head has 1002 tiles: no split
    expect(midSplit(T, 128, 128256, 4096, 16, 16).split).toBe(1);
    for (const [M, N, K] of [
      [64, 4096, 4096],
      [96, 1024, 4104],
      [256, 4096, 14336],
      [128, 40, 1160],
      [200, 14336, 4096],
      [64, 24, 1096],
    ] as const) {
      const { split, kLen } = midSplit(T, M, N, K, 16, 16);
      const tiles = Math.ceil(M / 128) * Math.ceil(N / 128);
      expect(kLen % T.BK, `${M}x${N}x${K}`).toBe(0);
      expect(split * kLen).toBeGreaterThanOrEqual(K);
      expect((split - 1) * kLen).toBeLessThan(K);
      expect(split).toBeLessThanOrEqual(Math.max(1, Math.min(T.SK, Math.floor(K / 512))));
      if (tiles >= MID_TARGET_WORKGROUPS) expect(split).toBe(1);
    }
  });

  it('counts workgroup memory for the rows of M it stages, within 48 KB for the swept tiles', () => {
    // 128×128 at BK 32: two stages of (128 + 128) rows of 40 halves, and 1 KB per subgroup
    expect(skinnySharedBytes(T, 128, CAPS)).toBe(2 * 256 * 40 * 2 + 4 * 1024);
    // M = 64 in the same tile stages 64 rows
    expect(skinnySharedBytes(T, 64, CAPS)).toBe(2 * 192 * 40 * 2 + 4 * 1024);
    expect(skinnyParamsProblem(T, 256, CAPS)).toBeNull();
    expect(skinnyParamsProblem({ ...T, BK: 64 }, 128, CAPS)).toMatch(/workgroup memory/);
    expect(skinnyParamsProblem({ ...T, D: 3 }, 128, CAPS)).toMatch(/D 3/);
    // the K-split family keeps all of M per subgroup: not past 128
    expect(skinnyParamsProblem({ variant: 'sgmat', S: 2, TN: 1, BK: 16, D: 2, AG: true }, 256, CAPS)).toMatch(
      /M ≤ 128/,
    );
  });
});
