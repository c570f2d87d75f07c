/**
 * The tensor-core prefill template's WGSL, for every tuning knob and variant, passes the WGSL
 * front end (Tint: parse, types, uniformity) on the test device. The matrix builtins are swapped
 * for their emulation (the device has none), so everything else in the text is what the H100
 * compiles. Compiling and running a pipeline costs tens of seconds on lavapipe, so only a few
 * configurations run against the oracle (sgmat-emulated.test.ts); this covers the rest cheaply.
 */
import { describe, expect, it } from 'vitest';
import { sgmatAttentionWgsl, sgmatSharedBytes } from '../../src/attention/attention-sgmat.js';
import { sgmatConfig } from '../../src/attention/sgmat-config.js';
import type { AttentionKernelParams } from '../../src/attention/attention-wgsl.js';
import type { VariantSpec } from '../../src/attention/variants.js';
import { gpuBackend } from '../gpu-setup.js';

const be = await gpuBackend();

function params(headDim: number, variant: VariantSpec, tileRows: number): AttentionKernelParams {
  return {
    headDim,
    numQoHeads: 8,
    numKvHeads: 2,
    pageSize: 16,
    layout: 'NHD',
    qDtype: 'f16',
    kvDtype: 'f16',
    oDtype: 'f16',
    scale: 1 / Math.sqrt(headDim),
    variant,
    tileRows,
    tileKeys: 32,
    grid: 64,
    maxItems: 256,
  };
}

async function errors(wgsl: string): Promise<string[]> {
  const module = be!.device.createShaderModule({ code: wgsl });
  const info = await module.getCompilationInfo();
  return info.messages.filter((m) => m.type === 'error').map((m) => `${m.lineNum}: ${m.message}`);
}

describe.skipIf(!be?.caps.subgroups)('tensor-core attention WGSL passes the front end', () => {
  const variants: [string, VariantSpec][] = [
    ['causal', { causal: true }],
    ['none', {}],
    ['window+softcap', { causal: true, windowLeft: 37, softCap: 4 }],
    ['rope+alibi', { causal: true, rope: { theta: 10000 }, alibi: true }],
    ['mask', { customMask: true }],
  ];
  // [rows, keys per tile, rows a subgroup multiplies in Q·Kᵀ, in P·V]; 48 keys (three key blocks) keep 16 in Q·Kᵀ
  const shapes = [
    [64, 32, 16, 16],
    [64, 48, 32, 32],
    [128, 32, 16, 16],
    [128, 32, 32, 32],
    [64, 32, 32, 32],
    [128, 32, 16, 32],
    [128, 32, 32, 16],
  ] as const;
  for (const [rows, tileKeys, qkRows, pvRows] of shapes) {
    for (const ssVec4 of [true, false]) {
      for (const interiorNoMask of [true, false]) {
        for (const schedule of ['step', 'deferred', 'ping-pong'] as const) {
          const deferPv = schedule === 'deferred';
          const pingPong = schedule === 'ping-pong';
          // fetch schedules ride on the other knobs: late V with vec4 scores (before P·V when masked), early K with scalar unmasked
          // ones (ping-pong has its own), the Q tile fetched ahead with vec4 scores; deferred cases make every exp2 a polynomial;
          // the FMA softmax rides on unmasked interiors, restart mode (ping-pong) on vec4 scores
          it(`${rows} rows (${qkRows}/${pvRows} a subgroup), TK ${tileKeys}, scores ${ssVec4 ? 'vec4' : 'scalar'}, interior ${interiorNoMask ? 'unmasked' : 'masked'}, ${schedule}`, async () => {
            const cfg = sgmatConfig({
              tileKeys,
              ssVec4,
              interiorNoMask,
              earlyFetch: interiorNoMask,
              lateV: ssVec4,
              fetchBeforePv: !interiorNoMask,
              qkRows,
              pvRows,
              deferPv,
              pingPong,
              qAhead: ssVec4,
              fastSoftmax: interiorNoMask,
              rescaleMode: ssVec4 ? 'restart' : 'check',
              polyExp: deferPv ? 16 : 0,
              emulate: true,
              ablate: '',
            });
            for (const [name, variant] of variants) {
              for (const d of [64, 80, 128]) {
                const wgsl = sgmatAttentionWgsl(params(d, variant, rows), be!.caps, cfg);
                expect(await errors(wgsl), `${name} d${d}`).toEqual([]);
                // pairs need even key (Q·Kᵀ) and dim (P·V) block counts: d 80 has five dim blocks
                const pairs = `${qkRows === 32 && tileKeys === 32 ? ' QK' : ''}${pvRows === 32 && d !== 80 ? ' PV' : ''}`;
                expect(wgsl.includes('32 a subgroup'), `${name} d${d}`).toBe(pairs !== '');
                if (pairs) expect(wgsl, `${name} d${d}`).toContain(`(32 a subgroup in${pairs})`);
                expect(wgsl.includes('fetch-before-pv'), `${name} d${d}`).toBe(
                  ssVec4 && !interiorNoMask && schedule === 'step',
                );
                // the halves' branches call the softmax's shuffle, so only subgroups of at most 32 lanes (the test device's 8 qualify) get ping-pong
                expect(wgsl.includes(' ping-pong') && wgsl.includes('resc_b'), `${name} d${d}`).toBe(pingPong);
                expect(wgsl.includes('var qw:'), `${name} d${d}`).toBe(ssVec4);
                if (pingPong)
                  expect(
                    sgmatAttentionWgsl(params(d, variant, rows), { ...be!.caps, subgroupMaxSize: 64 }, cfg),
                  ).not.toContain('resc_b');
                expect(wgsl.includes('exp2_fma('), `${name} d${d}`).toBe(deferPv);
                expect(wgsl).toContain(`@workgroup_size(${2 * rows})`);
                expect(sgmatSharedBytes(d, tileKeys, rows)).toBeLessThanOrEqual(49152);
                const interior = interiorNoMask && !variant.customMask && variant.windowLeft === undefined;
                expect(wgsl.includes('interior-unmasked')).toBe(interior);
                // the FMA softmax needs whole tiles and no logits hook (soft-cap and ALiBi have one)
                expect(wgsl.includes(' fma-softmax')).toBe(interior && !variant.softCap && !variant.alibi);
                // restart mode: ping-pong without a logits hook (ALiBi moves a row's max along the keys)
                expect(wgsl.includes(' restart>'), `${name} d${d}`).toBe(
                  pingPong && ssVec4 && !variant.softCap && !variant.alibi,
                );
              }
            }
          });
        }
      }
    }
  }
});
