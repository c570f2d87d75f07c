/**
 * The attention ops' conformance cases (the same ones `test/testing` runs for every op), here so
 * `npx vitest run test/attention` covers them on the device as opened. (The f32-path WGSL does not
 * depend on caps.f16 — see kernels.test.ts — so the f16-disabled twin would compile the same
 * shaders again; `test/testing` runs it.) CPU rows skip only where that backend runs the oracle itself.
 */
import { describeConformance } from '../conformance-suite.js';

await describeConformance('attention conformance', {
  ops: ['paged_attention', 'append_kv', 'merge_states', 'qkv_append'],
  gpuCount: 1,
});
