/**
 * The Llama runner serving LoRA adapters: a batch mixing the base model and two adapters of
 * different ranks gives each row the logits of the base checkpoint with that row's adapter merged
 * into its weights in float64 (merged-weights.ts), on prefill and on decode steps. A runner loaded
 * without adapters is the reference for base rows and for merged checkpoints. The graph's default
 * form (LoRA terms inside the fused projections) and its unfused form (`lora_bgmv` after every
 * projection) both meet that reference, and each other.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Backend } from '../../src/backends/backend.js';
import { CpuBackend } from '../../src/backends/cpu/cpu-backend.js';
import { loadPeftAdapter } from '../../src/lora/peft-adapter.js';
import { writeRandomPeftAdapter } from '../../src/lora/random-adapter.js';
import { loraShapesOf } from '../../src/models/llama/adapter-graph.js';
import { openLlamaModel } from '../../src/models/llama/llama-family.js';
import type { LlamaRunner } from '../../src/models/llama/llama-runner.js';
import { gpuBackend } from '../gpu-setup.js';
import { maxRelError } from '../../src/testing/rel-error.js';
import { mergedSource } from './merged-weights.js';
import { BUILTIN_DIR as dir, loadBatchRunner, mixedBatch, ROW_PROMPTS, rowAlone } from './mixed-adapter-batch.js';

const SEED = 2311;
const gpu = await gpuBackend();
const tmp = mkdtempSync(join(tmpdir(), 'tessera-lora-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/**
 * Largest |a − b| over max|b|: 4× the worst measured (2.4e-6, CPU backend, rank 4 on all seven
 * projections; WebGPU on lavapipe 1.2e-6): f32 sums of W·x and B·(A·x) in another order than the
 * merged weights' W'·x.
 */
const TOLERANCE = 1e-5;

// f32 stacks: the f32 oracle's tolerance; f16 stacks have their own test (llama-lora-f16.test.ts)
const F32_SLOTS = { slots: 2, rmax: 8, dtype: 'f32' } as const;

const backends: [string, () => Backend | null][] = [
  ['webgpu', () => gpu],
  ['cpu', () => new CpuBackend()],
];

describe('Llama runner with LoRA adapters against merged float64 weights', () => {
  console.log(`[lora runner] adapter seeds ${SEED}, ${SEED + 1}`);
  for (const [name, make] of backends)
    it.skipIf(name === 'webgpu' && !gpu)(
      `${name}: mixed base / rank-4 / rank-8 batch, prefill and decode`,
      async () => {
        const backend = make()!;
        const model = await openLlamaModel(dir);
        const shapes = loraShapesOf(model.config);
        await writeRandomPeftAdapter(join(tmp, `a-${name}`), shapes, {
          rank: 4,
          targets: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
          seed: SEED,
        });
        await writeRandomPeftAdapter(join(tmp, `b-${name}`), shapes, {
          rank: 8,
          targets: ['q_proj', 'v_proj', 'down_proj'],
          seed: SEED + 1,
          useRslora: true,
        });
        const a = await loadPeftAdapter(join(tmp, `a-${name}`), 'a', shapes);
        const b = await loadPeftAdapter(join(tmp, `b-${name}`), 'b', shapes);
        const served = await loadBatchRunner(model, backend, F32_SLOTS);
        const unfused = await loadBatchRunner(model, backend, { ...F32_SLOTS, form: 'bgmv' });
        for (const r of [served, unfused]) {
          r.adapters!.add(a);
          r.adapters!.add(b);
        }
        const refs = [
          await loadBatchRunner(model, backend),
          await loadBatchRunner({ config: model.config, weights: mergedSource(model.weights, a) }, backend),
          await loadBatchRunner({ config: model.config, weights: mergedSource(model.weights, b) }, backend),
        ];
        const adapters = [undefined, 'a', 'b'] as const;
        const v = served.vocabSize;
        const steps = async (r: LlamaRunner) => {
          const prefill = await r.forward(mixedBatch(adapters, false));
          const decode = await r.forward(mixedBatch(adapters, true));
          return [prefill, decode] as const;
        };
        const [mixed, mixedDecode] = await steps(served);
        const [plainPrefill, plainDecode] = await steps(unfused);
        for (let i = 0; i < 3; i++) {
          const r = refs[i]!;
          const [pre, dec] = await rowAlone(r, i);
          const row = (x: Float32Array) => x.subarray(i * v, (i + 1) * v);
          const e1 = maxRelError(row(mixed), pre);
          const e2 = maxRelError(row(mixedDecode), dec);
          const u1 = maxRelError(row(plainPrefill), pre);
          const u2 = maxRelError(row(plainDecode), dec);
          const f1 = maxRelError(row(mixed), row(plainPrefill));
          const f2 = maxRelError(row(mixedDecode), row(plainDecode));
          console.log(
            `[lora runner] ${name} row ${adapters[i] ?? 'base'}: fused prefill ${e1.toExponential(2)}, decode ${e2.toExponential(2)}; unfused ${u1.toExponential(2)}, ${u2.toExponential(2)}; fused vs unfused ${f1.toExponential(2)}, ${f2.toExponential(2)}`,
          );
          for (const e of [e1, e2, u1, u2, f1, f2]) expect(e).toBeLessThan(TOLERANCE);
        }
        // the adapters move the logits far more than the tolerance, so a runner ignoring them fails
        const base = await refs[0]!.forward({ seqs: [{ tokens: ROW_PROMPTS[1]!, start: 0, pages: [2, 3] }] });
        expect(maxRelError(mixed.subarray(v, 2 * v), base)).toBeGreaterThan(100 * TOLERANCE);
        served.destroy();
        unfused.destroy();
        for (const r of refs) r.destroy();
        await model.weights.close();
      },
      600_000,
    );
});
