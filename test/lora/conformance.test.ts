/**
 * The LoRA ops' conformance cases (mixed ranks, rows with no adapter, f32 and f16) on the device as
 * opened, against their float64 references. The CPU backend runs the reference itself, so it has no
 * row here.
 */
import { describe, expect, it } from 'vitest';
import { conformanceCases, runCase } from '../../src/testing/conformance.js';
import { seedNote, testSeed } from '../../src/testing/seed.js';
import { WebGpuBackend } from '../../src/backends/webgpu/webgpu-backend.js';
import { gpuBackends, gpusOrSkip } from '../gpu-setup.js';

const seed = testSeed();
const gpus = await gpuBackends();

describe(`lora conformance (${seedNote(seed)})`, () => {
  for (const { op, cases } of conformanceCases({ seed, ops: ['lora_bgmv', 'lora_sgmv', 'lora_delta'] })) {
    describe(op.name, () => {
      for (const c of cases) {
        for (const { name, backend } of gpusOrSkip(gpus, `webgpu: ${c.label}`)) {
          it(`${name}: ${c.label}`, async () => {
            const r = await runCase(backend, op, c);
            expect(r.skipped ?? '').toBe('');
            expect(r.message ?? 'ok').toBe('ok');
          });
        }
      }
    });
  }
});

/**
 * `lora_delta` where the device allows 10 storage bindings per stage (SwiftShader's limit, as in
 * CI's browser): groups of members that pass it run in several dispatches, each within the limit.
 */
describe(`lora_delta with 10 storage bindings (${seedNote(seed)})`, () => {
  const gpu = gpus[0]?.backend;
  const narrow = gpu
    ? new WebGpuBackend({ ...gpu.ctx, caps: { ...gpu.ctx.caps, maxStorageBuffersPerShaderStage: 10 } })
    : undefined;
  for (const { op, cases } of conformanceCases({ seed, ops: ['lora_delta'] }))
    for (const c of cases)
      it.skipIf(!narrow)(`${c.label}${narrow ? '' : ' (skipped: no WebGPU adapter)'}`, async () => {
        const r = await runCase(narrow!, op, c);
        expect(r.skipped ?? '').toBe('');
        expect(r.message ?? 'ok').toBe('ok');
      });
});
