/**
 * The attention WGSL generators are pure text: this pins the sha256 of the prefill (tensor-core),
 * decode (streaming) and contiguous (`attention` op) templates' output over a fixed set of
 * configurations (wgsl-configs.ts), so a refactor of the generators that changes a single byte of a
 * shipped kernel fails here. CPU only.
 * After an intended change to the kernels, regenerate with UPDATE_WGSL_SNAPSHOT=1 and say why in
 * the commit.
 */
import { expect } from 'vitest';
import { describeWgslSnapshot, sha256 } from '../wgsl-snapshot.js';
import { streamAttentionWgsl } from '../../src/attention/attention-decode.js';
import { sgmatAttentionWgsl } from '../../src/attention/attention-sgmat.js';
import { denseAttentionWgsl } from '../../src/attention/dense-attention.js';
import { type SgmatConfig, sgmatConfig } from '../../src/attention/sgmat-config.js';
import { type StreamConfig, streamConfig } from '../../src/attention/stream-config.js';
import {
  type DenseCase,
  type SgmatCase,
  type StreamCase,
  denseCases,
  sgmatCases,
  streamCases,
} from './wgsl-configs.js';

const SNAPSHOT = new URL('./__snapshots__/attention-wgsl.sha256.json', import.meta.url);

function sgmatWgsl(c: SgmatCase): string {
  const cfg = sgmatConfig(c.over as Partial<SgmatConfig>);
  return sgmatAttentionWgsl(c.params, { subgroupMaxSize: c.subgroupMaxSize }, cfg);
}

function streamWgsl(c: StreamCase): string {
  const over = { ...c.over, ...(c.keysPerSlot !== undefined ? { keysPerSlot: c.keysPerSlot } : {}) };
  return streamAttentionWgsl(c.params, c.subgroupSize, streamConfig(over as Partial<StreamConfig>));
}

function denseWgsl(c: DenseCase): string {
  const [qd, kd, vd] = c.dtypes;
  return denseAttentionWgsl(qd, kd, vd, c.headDim, { f16: c.f16 });
}

function currentHashes(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const c of sgmatCases()) out[c.name] = sha256(sgmatWgsl(c));
  for (const c of streamCases()) out[c.name] = sha256(streamWgsl(c));
  for (const c of denseCases()) out[c.name] = sha256(denseWgsl(c));
  return out;
}

describeWgslSnapshot('attention WGSL snapshot', SNAPSHOT, currentHashes, {
  title: 'configurations produce distinct kernels where their knobs matter',
  check: (hashes) => {
    // a knob that silently stopped reaching the generator would collapse its flip onto the defaults
    expect(hashes['sgmat/flip/pingPong-off/d128']).not.toBe(hashes['sgmat/defaults/d128/r128/causal']);
    expect(hashes['stream/flip/rowScatter-off/d128']).not.toBe(hashes['stream/defaults/d128/tq4/causal']);
  },
});
