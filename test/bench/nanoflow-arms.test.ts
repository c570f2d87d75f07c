/**
 * bench/nanoflow.ts's two arms at tiny size: after the warm-up both arms share, the baseline
 * (nano-batching off) replays a recorded stream at every step, so the ratio measures nano-batching
 * and not recording. The 2026-12-08 H100 run warmed only a slice of the mix: its baseline, running
 * first, recorded each new step shape on the spot and the nano-batched arm replayed them. The same
 * procedure without the runner's warm-up is run here too, and must show that (else the check above
 * could not fail).
 */
import { describe, expect, it } from 'vitest';
import { type ArmConfig, serveArm, warmArms } from '../../bench/nanoflow-arms.js';
import { shareGptLikeWorkload } from '../../bench/serving-workload.js';
import { openLlamaModel } from '../../src/models/llama/llama-family.js';
import { LlamaRunner } from '../../src/models/llama/llama-runner.js';
import { builtinModelPath } from '../../src/models/load-model.js';
import { Rng } from '../../src/util/rng.js';
import { gpuBackend, gpuSkipReason } from '../gpu-setup.js';

const gpu = await gpuBackend();
const SEED = 2026;
const cfg: ArmConfig = { maxBatchTokens: 64, prefillChunkTokens: 16, maxRunningSeqs: 8, seed: SEED };
const shapes = shareGptLikeWorkload(12, 128, SEED);
const rng = new Rng(SEED);
const prompts = shapes.map((s) => Array.from({ length: s.prompt }, () => rng.int(0, 511)));
const outputs = shapes.map((s) => s.output);
const at0 = shapes.map(() => 0);

async function loadRunner(): Promise<LlamaRunner> {
  const m = await openLlamaModel(builtinModelPath());
  const numPages = shapes.reduce((a, s) => a + Math.ceil((s.prompt + s.output) / 16), 0) + 2 * cfg.maxRunningSeqs;
  const r = await LlamaRunner.load(m, {
    backend: gpu!,
    actDtype: 'f16',
    pageSize: 16,
    numPages,
    maxSeqs: cfg.maxRunningSeqs,
    maxTokens: cfg.maxBatchTokens,
  });
  await m.weights.close();
  return r;
}

/** The bench's sequence: warm-up (a slice of the mix, both modes), then the offline baseline and 2 nano-batches. */
async function arms(runnerWarmUp: boolean) {
  const runner = await loadRunner();
  try {
    await warmArms(
      runner,
      cfg,
      2,
      prompts.slice(0, 4),
      outputs.slice(0, 4).map((o) => Math.min(o, 8)),
      { runnerWarmUp },
    );
    const base = await serveArm(runner, cfg, 'offline', 'off', prompts, outputs, at0);
    const nano = await serveArm(runner, cfg, 'offline', 2, prompts, outputs, at0);
    for (const r of [base, nano]) {
      expect(r.short).toEqual([]);
      const c = r.counts;
      expect(c.replayed + c.recorded + c.unrecorded, 'every forward is replayed, recorded or unrecorded').toBe(c.steps);
      expect(
        c.buckets.reduce((a, b) => a + b.count, 0),
        "the step log's steps",
      ).toBeGreaterThan(0);
    }
    return { base: base.counts, nano: nano.counts };
  } finally {
    runner.destroy();
  }
}

describe.skipIf(!gpu)(`bench/nanoflow.ts arms${gpu ? ` (seed ${SEED})` : ` (skipped: ${gpuSkipReason()})`}`, () => {
  it('after the shared warm-up the baseline replays every step', async () => {
    const { base, nano } = await arms(true);
    console.log(
      `warmed: baseline ${JSON.stringify({ ...base, buckets: undefined })}, nano ${JSON.stringify({ ...nano, buckets: undefined })}`,
    );
    expect(base.steps).toBeGreaterThan(0);
    expect([base.recorded, base.unrecorded]).toEqual([0, 0]);
    expect(base.replayed).toBe(base.steps);
    expect(base.resident, 'the baseline decodes on the resident loop').toBeGreaterThan(0);
  }, 600_000);

  it('without the runner warm-up the baseline, running first, records shapes the second arm then replays', async () => {
    const { base, nano } = await arms(false);
    console.log(
      `unwarmed: baseline recorded ${base.recorded} of ${base.steps}, nano ${nano.recorded} of ${nano.steps}`,
    );
    expect(base.recorded).toBeGreaterThan(0);
    expect(base.recorded).toBeGreaterThan(nano.recorded);
  }, 600_000);
});
