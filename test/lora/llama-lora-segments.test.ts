/**
 * The Llama runner's LoRA terms where a step has more rows than decode, so `lora_delta` runs its
 * segmented schedule (src/lora/lora-delta-segmented.ts): one prefill of three sequences (base,
 * adapter a of rank 4 on every projection, adapter b of rank 8 on q/v/down) of 9, 10 and 9 tokens,
 * 28 rows in one step. Each row's logits match a runner of the checkpoint with that row's adapter
 * merged in float64 (merged-weights.ts), run on its own.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadPeftAdapter } from '../../src/lora/peft-adapter.js';
import { DECODE_ROWS } from '../../src/lora/lora-delta-plan.js';
import { writeRandomPeftAdapter } from '../../src/lora/random-adapter.js';
import { loraShapesOf } from '../../src/models/llama/adapter-graph.js';
import { openLlamaModel } from '../../src/models/llama/llama-family.js';
import { maxRelError } from '../../src/testing/rel-error.js';
import { gpuBackend, gpuSkipReason } from '../gpu-setup.js';
import { mergedSource } from './merged-weights.js';
import { BUILTIN_DIR as dir, loadBatchRunner, rowPages } from './mixed-adapter-batch.js';

const SEED = 2357;
const gpu = await gpuBackend();
const tmp = mkdtempSync(join(tmpdir(), 'tessera-lora-seg-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** As llama-lora-runner.test.ts: f32 sums in another order than the merged weights'. */
const TOLERANCE = 1e-5;
/** Token ids of each sequence: fixed, within the built-in model's vocabulary. */
const PROMPTS = [
  [1, 450, 3996, 1354, 1701, 2916, 432, 1204, 975],
  [1, 910, 338, 263, 1243, 310, 278, 3203, 1788, 2889],
  [1, 2871, 2906, 718, 2871, 2906, 353, 2871, 2946],
];
const ADAPTERS = [undefined, 'a', 'b'] as const;

describe.skipIf(!gpu)(
  `Llama runner, LoRA over ${PROMPTS.flat().length} rows in one step${gpu ? '' : ` (skipped: ${gpuSkipReason()})`}`,
  () => {
    it('each row of a mixed base / a / b prefill matches its merged checkpoint', async () => {
      console.log(`[lora segments runner] adapter seeds ${SEED}, ${SEED + 1}`);
      expect(PROMPTS.flat().length).toBeGreaterThan(DECODE_ROWS);
      const backend = gpu!;
      const model = await openLlamaModel(dir);
      const shapes = loraShapesOf(model.config);
      const vocab = model.config.vocabSize;
      for (const p of PROMPTS) for (const t of p) expect(t).toBeLessThan(vocab);
      await writeRandomPeftAdapter(join(tmp, 'a'), shapes, {
        rank: 4,
        targets: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
        seed: SEED,
      });
      await writeRandomPeftAdapter(join(tmp, 'b'), shapes, {
        rank: 8,
        targets: ['q_proj', 'v_proj', 'down_proj'],
        seed: SEED + 1,
      });
      const a = await loadPeftAdapter(join(tmp, 'a'), 'a', shapes);
      const b = await loadPeftAdapter(join(tmp, 'b'), 'b', shapes);
      const served = await loadBatchRunner(model, backend, { slots: 2, rmax: 8, dtype: 'f32' });
      served.adapters!.add(a);
      served.adapters!.add(b);
      const refs = [
        await loadBatchRunner(model, backend),
        await loadBatchRunner({ config: model.config, weights: mergedSource(model.weights, a) }, backend),
        await loadBatchRunner({ config: model.config, weights: mergedSource(model.weights, b) }, backend),
      ];
      const mixed = await served.forward({
        seqs: PROMPTS.map((tokens, i) => ({
          tokens,
          start: 0,
          pages: rowPages(i),
          ...(ADAPTERS[i] ? { adapter: ADAPTERS[i] } : {}),
        })),
      });
      const v = served.vocabSize;
      for (let i = 0; i < PROMPTS.length; i++) {
        const alone = await refs[i]!.forward({ seqs: [{ tokens: PROMPTS[i]!, start: 0, pages: [0, 1] }] });
        const e = maxRelError(mixed.subarray(i * v, (i + 1) * v), alone);
        console.log(`[lora segments runner] row ${ADAPTERS[i] ?? 'base'}: ${e.toExponential(2)}`);
        expect(e).toBeLessThan(TOLERANCE);
      }
      // the adapters move the logits far more than the tolerance, so a runner ignoring them fails
      const base = await refs[0]!.forward({ seqs: [{ tokens: PROMPTS[1]!, start: 0, pages: [0, 1] }] });
      expect(maxRelError(mixed.subarray(v, 2 * v), base)).toBeGreaterThan(100 * TOLERANCE);
      served.destroy();
      for (const r of refs) r.destroy();
      await model.weights.close();
    }, 600_000);
  },
);
