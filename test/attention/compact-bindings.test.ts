/**
 * Paged attention's compact binding layout: the kernel binds 9 storage buffers (the full layout
 * binds 11, two of them page-table arrays no template reads), so it runs on devices that allow 10
 * per shader stage, such as a browser's SwiftShader adapter. The GPU rows open the device with
 * that limit requested, so the device itself enforces it, and check every paged_attention
 * conformance case against the float64 oracle there.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { attentionWgsl } from '../../src/attention/attention-wgsl.js';
import { streamAttentionWgsl } from '../../src/attention/attention-decode.js';
import { pagedAttentionKernel, useCompactBindings } from '../../src/attention/kernels.js';
import { STREAM_DEFAULTS } from '../../src/attention/stream-config.js';
import type { Capabilities } from '../../src/backends/webgpu/capabilities.js';
import { WebGpuBackend } from '../../src/backends/webgpu/webgpu-backend.js';
import { conformanceCases, runCase } from '../../src/testing/conformance.js';
import { seedNote, testSeed } from '../../src/testing/seed.js';
import { gpuSkipReason } from '../gpu-setup.js';
import { kernelParams } from './wgsl-configs.js';

const storageDecls = (wgsl: string) => (wgsl.match(/var<storage,/g) ?? []).length;

describe('compact binding layout: the generated WGSL', () => {
  it('is chosen only where the full layout exceeds the device limit', () => {
    expect(useCompactBindings({ maxStorageBuffersPerShaderStage: 10 }, false)).toBe(true);
    expect(useCompactBindings({ maxStorageBuffersPerShaderStage: 11 }, false)).toBe(false);
    expect(useCompactBindings({ maxStorageBuffersPerShaderStage: 12 }, true)).toBe(true);
    expect(useCompactBindings({ maxStorageBuffersPerShaderStage: 13 }, true)).toBe(false);
    expect(useCompactBindings({}, false)).toBe(false);
  });

  for (const [name, gen] of [
    [
      'tiled f32',
      (compact: boolean, mask: boolean) =>
        attentionWgsl(
          kernelParams(64, mask ? { customMask: true } : { causal: true }, 16, {
            qDtype: 'f32',
            kvDtype: 'f32',
            oDtype: 'f32',
            tileKeys: 8,
            compactBindings: compact,
            dynamicLoops: true,
          }),
        ),
    ],
    [
      'streaming decode',
      (compact: boolean, mask: boolean) =>
        streamAttentionWgsl(
          kernelParams(64, mask ? { customMask: true } : { causal: true }, 1, { compactBindings: compact }),
          32,
          STREAM_DEFAULTS,
        ),
    ],
  ] as const) {
    it(`${name}: 9 storage buffers (11 with a mask), no unread page-table arrays, bindings numbered densely`, () => {
      for (const mask of [false, true]) {
        const full = gen(false, mask);
        const compact = gen(true, mask);
        expect(storageDecls(full)).toBe(mask ? 13 : 11);
        expect(storageDecls(compact)).toBe(mask ? 11 : 9);
        expect(compact).not.toMatch(/qo_indptr|last_page_len/);
        const bindings = [...compact.matchAll(/@binding\((\d+)\)/g)].map((m) => Number(m[1]));
        expect(bindings).toEqual(bindings.map((_, i) => i));
      }
    });
  }
});

const LIMIT = 10;
const device = await WebGpuBackend.create({ limits: { maxStorageBuffersPerShaderStage: LIMIT } }).catch((e: Error) => {
  console.warn(`[tessera] compact-binding GPU rows skipped: ${e.message.split('\n')[0]}`);
  return null;
});
const seed = testSeed();

describe.skipIf(device === null)(
  `paged_attention on a device limited to ${LIMIT} storage buffers per stage (${seedNote(seed)})${device ? '' : ` (skipped: ${gpuSkipReason()})`}`,
  () => {
    afterAll(() => device?.destroy());

    it('the device enforces the limit', () => {
      expect(device!.caps.maxStorageBuffersPerShaderStage).toBe(LIMIT);
      expect(device!.device.limits.maxStorageBuffersPerShaderStage).toBe(LIMIT);
    });

    const { cases } = conformanceCases({ seed, ops: ['paged_attention'] })[0]!;
    for (const c of cases) {
      it(`${c.label}: equals the float64 oracle`, { timeout: 300_000 }, async () => {
        const op = conformanceCases({ seed, ops: ['paged_attention'] })[0]!.op;
        const caps = device!.caps as Capabilities;
        const masked = pagedAttentionKernel.whyUnsupported(
          caps,
          c.attrs,
          c.inputs.map((i) => i.desc),
        );
        const r = await runCase(device!, op, c);
        if (masked !== null) {
          // a custom mask adds two bindings: 11 even in the compact layout, over this device's 10
          expect(masked).toMatch(/needs 11 storage bindings/);
          expect(r.skipped).toBe('not supported');
          return;
        }
        expect(r.skipped ?? '').toBe('');
        expect(r.message ?? 'ok').toBe('ok');
      });
    }
  },
);
