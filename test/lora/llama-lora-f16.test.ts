/**
 * f16 adapter stacks (the default where the device has f16) against float64 merged weights: the
 * runner's rows match the checkpoint merged with the f16-rounded adapter (what the stacks hold) to
 * the f32 tolerance, so the kernels read f16 A/B exactly and sum in f32; and they match the
 * checkpoint merged with the adapter as loaded within a tolerance made of f16's rounding of A and B.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadPeftAdapter } from '../../src/lora/peft-adapter.js';
import { writeRandomPeftAdapter } from '../../src/lora/random-adapter.js';
import { loraShapesOf } from '../../src/models/llama/adapter-graph.js';
import { loraStackDtype } from '../../src/models/llama/adapter-stacks-device.js';
import { openLlamaModel } from '../../src/models/llama/llama-family.js';
import type { LlamaRunner } from '../../src/models/llama/llama-runner.js';
import { gpuBackend, gpuSkipReason } from '../gpu-setup.js';
import { f16RoundedAdapter } from './f16-rounded-adapter.js';
import { maxRelError } from '../../src/testing/rel-error.js';
import { mergedSource } from './merged-weights.js';
import { BUILTIN_DIR as dir, loadBatchRunner, mixedBatch, rowAlone } from './mixed-adapter-batch.js';

const SEED = 2341;
const gpu = await gpuBackend();
const tmp = mkdtempSync(join(tmpdir(), 'tessera-lora-f16-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** f32 sums in another order than the merged weights' (as llama-lora-runner.test.ts). */
const F32_TOLERANCE = 1e-5;
/** f16's unit roundoff: A and B are each within a relative 2⁻¹¹ of the adapter's values. */
const F16_U = 2 ** -11;

describe('adapter stack dtype', () => {
  const shapes = { numLayers: 1, modules: { q_proj: [64, 64], k_proj: [32, 64] } } as never;
  it('is f16 where the device has f16 and the slot blocks are whole words, else f32', () => {
    expect(loraStackDtype(true, shapes, 8)).toBe('f16');
    expect(loraStackDtype(false, shapes, 8)).toBe('f32');
    expect(loraStackDtype(true, shapes, 8, 'f32')).toBe('f32');
    const odd = { numLayers: 1, modules: { q_proj: [63, 65] } } as never;
    expect(loraStackDtype(true, odd, 3)).toBe('f32');
    expect(() => loraStackDtype(true, odd, 3, 'f16')).toThrow(/whole words/);
  });
});

const skip = !gpu?.caps.f16;
const why = !gpu ? gpuSkipReason() : 'the device has no shader-f16';
describe.skipIf(skip)(`Llama runner with f16 adapter stacks${skip ? ` (skipped: ${why})` : ''}`, () => {
  it('mixed base / rank-4 / rank-8 batch against merged float64 weights, prefill and decode', async () => {
    console.log(`[lora f16] adapter seeds ${SEED}, ${SEED + 1}`);
    const model = await openLlamaModel(dir);
    const shapes = loraShapesOf(model.config);
    const all = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const;
    await writeRandomPeftAdapter(join(tmp, 'a'), shapes, { rank: 4, targets: [...all], seed: SEED });
    await writeRandomPeftAdapter(join(tmp, 'b'), shapes, {
      rank: 8,
      targets: ['q_proj', 'v_proj', 'down_proj'],
      seed: SEED + 1,
    });
    const adapters = [
      await loadPeftAdapter(join(tmp, 'a'), 'a', shapes),
      await loadPeftAdapter(join(tmp, 'b'), 'b', shapes),
    ];
    const served = await loadBatchRunner(model, gpu!, { slots: 2, rmax: 8, dtype: 'f16' });
    for (const a of adapters) served.adapters!.add(a);
    const merged = (i: number, rounded: boolean) =>
      loadBatchRunner(
        {
          config: model.config,
          weights: mergedSource(model.weights, rounded ? f16RoundedAdapter(adapters[i]!) : adapters[i]!),
        },
        gpu!,
      );
    const names = [undefined, 'a', 'b'] as const;
    const prefill = await served.forward(mixedBatch(names, false));
    const decode = await served.forward(mixedBatch(names, true));
    const v = served.vocabSize;
    const alone = async (r: LlamaRunner, i: number) => {
      const out = await rowAlone(r, i);
      r.destroy();
      return out;
    };
    const base = await alone(await loadBatchRunner(model, gpu!), 0);
    const baseOther = await alone(await loadBatchRunner(model, gpu!), 1);
    for (const i of [1, 2]) {
      const exact = await alone(await merged(i - 1, true), i);
      const loaded = await alone(await merged(i - 1, false), i);
      const unadapted = i === 1 ? baseOther : base;
      [prefill, decode].forEach((out, step) => {
        const row = out.subarray(i * v, (i + 1) * v);
        const eExact = maxRelError(row, exact[step]!);
        const eLoaded = maxRelError(row, loaded[step]!);
        // the term B·A of rounded factors is within ~2u of the adapter's, relatively; the logits move
        // with the term to first order, so by at most 2u of the adapter's effect on them (2× slack)
        const effect = maxRelError(loaded[step]!, unadapted[step]!);
        const f16Tolerance = F32_TOLERANCE + 4 * F16_U * effect;
        console.log(
          `[lora f16] row ${names[i]} ${step ? 'decode' : 'prefill'}: vs rounded oracle ${eExact.toExponential(2)} (tol ${F32_TOLERANCE}), vs loaded ${eLoaded.toExponential(2)} (tol ${f16Tolerance.toExponential(2)}; adapter effect ${effect.toExponential(2)})`,
        );
        expect(eExact).toBeLessThan(F32_TOLERANCE);
        expect(eLoaded).toBeLessThan(f16Tolerance);
        expect(effect, 'a runner ignoring the adapter fails').toBeGreaterThan(100 * f16Tolerance);
      });
    }
    // the base row of the mixed batch is the base model's
    expect(maxRelError(prefill.subarray(0, v), base[0])).toBeLessThan(F32_TOLERANCE);
    expect(maxRelError(decode.subarray(0, v), base[1])).toBeLessThan(F32_TOLERANCE);
    served.destroy();
    await model.weights.close();
  }, 600_000);
});
