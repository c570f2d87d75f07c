/**
 * The partitioned kernel's WGSL (src/attention/partitioned-kernel.ts) pinned by sha256 for the head
 * dimensions the probe and the tests use, so a refactor that changes its text shows here. CPU only.
 * After an intended change, regenerate with UPDATE_WGSL_SNAPSHOT=1 and say why in the commit.
 */
import { expect } from 'vitest';
import { partitionedKernelWgsl } from '../../src/attention/partitioned-kernel.js';
import { describeWgslSnapshot, sha256 } from '../wgsl-snapshot.js';

const SNAPSHOT = new URL('./__snapshots__/partitioned-wgsl.sha256.json', import.meta.url);
const HEAD_DIMS = [32, 40, 64, 96, 128];

describeWgslSnapshot(
  'partitioned GEMM + decode attention WGSL',
  SNAPSHOT,
  () => Object.fromEntries(HEAD_DIMS.map((d) => [`head dim ${d}`, sha256(partitionedKernelWgsl({ headDim: d }))])),
  {
    title: 'head dims of one workgroup share a kernel; more dims per thread change it',
    check: (h) => {
      expect(h['head dim 32']).toBe(h['head dim 64']);
      expect(h['head dim 64']).not.toBe(h['head dim 96']);
    },
  },
);
