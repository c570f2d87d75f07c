/**
 * Pins the sha256 of the GEMM generators' WGSL (the tiled f32 kernel, the subgroup-matrix kernel and
 * its split-K reduction) over the plans in matmul-wgsl-configs.ts, so a refactor of a generator that
 * changes a single byte of a shipped kernel fails here. CPU only.
 * After an intended change to the kernels, regenerate with UPDATE_WGSL_SNAPSHOT=1 and say why in
 * the commit.
 */
import { expect } from 'vitest';
import { describeWgslSnapshot, sha256 } from '../wgsl-snapshot.js';
import type { Capabilities } from '../../src/backends/webgpu/capabilities.js';
import { sgmatWgsl, splitReduceWgsl } from '../../src/kernels/matmul-sgmat-wgsl.js';
import { tiledWgsl } from '../../src/kernels/matmul-tiled.js';
import { sgmatCases, splitReduceCases, tiledCases } from './matmul-wgsl-configs.js';

const SNAPSHOT = new URL('./__snapshots__/matmul-wgsl.sha256.json', import.meta.url);

function currentHashes(): Record<string, string> {
  const out: Record<string, string> = {};
  const put = (name: string, wgsl: string) => {
    if (name in out) throw new Error(`duplicate configuration name ${name}`);
    out[name] = sha256(wgsl);
  };
  for (const c of tiledCases()) put(c.name, tiledWgsl(c.plan, c.caps, c.params));
  for (const c of sgmatCases()) put(c.name, sgmatWgsl(c.plan, c.caps as Capabilities, c.cfg, c.params));
  for (const c of splitReduceCases()) put(c.name, splitReduceWgsl(c.plan, c.caps));
  return out;
}

describeWgslSnapshot('matmul WGSL snapshot', SNAPSHOT, currentHashes, {
  title: 'configurations produce distinct kernels where their knobs matter',
  check: (hashes) => {
    // a knob that silently stopped reaching the generator would collapse onto the default's text
    const base = hashes['sgmat/variant-default/512x4096x4096'];
    for (const v of ['smem-f16', 'smem-vec4f16', 'syntax-bool', 'pad-0', 'sg64', 'cfg8', 'probe-compute-only'])
      expect(hashes[`sgmat/variant-${v}/512x4096x4096`], v).not.toBe(base);
    expect(hashes['sgmat/epi-none/out-f16/k4']).not.toBe(hashes['sgmat/epi-none/out-f16/k1']);
    expect(hashes['tiled/caps-f16-true/f16.f16/1x4096x4096']).not.toBe(
      hashes['tiled/caps-f16-false/f16.f16/1x4096x4096'],
    );
  },
});
