/**
 * Pins the sha256 of the portable f32 attention template (`attentionWgsl`) and of the split-KV merge
 * pass (`mergeWgsl`) over head dims, variants, row tiles, dtypes, layouts and the loop/softmax
 * switches, so a refactor of either generator that changes a single byte of a kernel fails here.
 * CPU only. After an intended change to the kernels, regenerate with UPDATE_WGSL_SNAPSHOT=1 and say
 * why in the commit.
 */
import { expect } from 'vitest';
import { describeWgslSnapshot, sha256 } from '../wgsl-snapshot.js';
import { type AttentionKernelParams, attentionWgsl, mergeWgsl } from '../../src/attention/attention-wgsl.js';
import { VARIANTS, kernelParams } from './wgsl-configs.js';

const SNAPSHOT = new URL('./__snapshots__/attention-template-wgsl.sha256.json', import.meta.url);

function cases(): [string, AttentionKernelParams][] {
  const out: [string, AttentionKernelParams][] = [];
  for (const d of [64, 128])
    for (const rows of [16, 64])
      for (const [vn, variant] of VARIANTS) out.push([`d${d}/r${rows}/${vn}`, kernelParams(d, variant, rows)]);
  const causal = { causal: true };
  const flips: [string, Partial<AttentionKernelParams>][] = [
    ['dynamicLoops', { dynamicLoops: true }],
    ['dynamicLoops+mask', { dynamicLoops: true, variant: { customMask: true } }],
    ['subgroupSoftmax', { tileRows: 8, subgroupSoftmax: true }],
    ['subgroupSoftmax-unfit', { tileRows: 16, subgroupSoftmax: true }],
    ['f32', { qDtype: 'f32', kvDtype: 'f32', oDtype: 'f32' }],
    ['bf16-kv', { kvDtype: 'bf16', oDtype: 'f32' }],
    ['HND', { layout: 'HND' }],
    ['tileKeys16', { tileKeys: 16 }],
    ['mha', { numKvHeads: 32 }],
    ['pageSize1', { pageSize: 1 }],
    ['d256', { headDim: 256, scale: 1 / 16 }],
  ];
  for (const [name, over] of flips) out.push([`flip/${name}`, kernelParams(128, causal, 16, over)]);
  return out;
}

function currentHashes(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, p] of cases()) {
    out[`attention/${name}`] = sha256(attentionWgsl(p));
    out[`merge/${name}`] = sha256(mergeWgsl(p, 256));
  }
  out['merge/grid64'] = sha256(mergeWgsl(kernelParams(128, { causal: true }, 16, { grid: 64 }), 64));
  return out;
}

describeWgslSnapshot('attention template and merge WGSL snapshot', SNAPSHOT, currentHashes, {
  title: 'configurations produce distinct kernels where their switches matter',
  check: (hashes) => {
    // a switch that silently stopped reaching the generator would collapse its flip onto the base
    expect(hashes['attention/flip/subgroupSoftmax']).not.toBe(hashes['attention/flip/subgroupSoftmax-unfit']);
    expect(hashes['attention/flip/dynamicLoops']).not.toBe(hashes['attention/d128/r16/causal']);
    expect(hashes['merge/flip/f32']).not.toBe(hashes['merge/d128/r16/causal']);
  },
});
