/**
 * The two arms of bench/nanoflow.ts on one Llama runner: the warm-up both share, and one arm served
 * on a fresh engine with its step counts (bench/step-counts.ts). Kept apart from the bench so a
 * test runs the same procedure at tiny size and checks that the baseline arm replays every step.
 */
import { Engine } from '../src/engine/engine.js';
import type { LlamaRunner } from '../src/models/llama/llama-runner.js';
import type { WarmUpReport } from '../src/models/llama/warm-up.js';
import { driveGreedy, TOKEN_IDS_ONLY } from './serving-driver.js';
import { countsSince, describeCounts, snapshot, type StepCounts } from './step-counts.js';

export type Mode = 'off' | number;
export const modeName = (m: Mode) => (m === 'off' ? 'nano-batching off' : `${m} nano-batches`);

export interface ArmConfig {
  maxBatchTokens: number;
  prefillChunkTokens: number;
  maxRunningSeqs: number;
  seed: number;
}

export interface Run {
  ids: number[][];
  /** Per request: arrival and each token's time, seconds from the start. */
  traces: { arrival: number; tokens: number[] }[];
  wallS: number;
  forwards: number;
  /** Replayed vs host-encoded steps and steps by rows. */
  counts: StepCounts;
  /** Requests that did not end with their drawn token count, described. */
  short: string[];
}

/** Serves `prompts` (arriving at `arrive`, seconds) on a fresh engine in `mode`; prints the arm's step counts under `what`. */
export async function serveArm(
  runner: LlamaRunner,
  cfg: ArmConfig,
  what: string,
  mode: Mode,
  prompts: number[][],
  outputs: number[],
  arrive: number[],
): Promise<Run> {
  const engine = new Engine(runner, TOKEN_IDS_ONLY, {
    maxBatchTokens: cfg.maxBatchTokens,
    prefillChunkTokens: cfg.prefillChunkTokens,
    maxRunningSeqs: cfg.maxRunningSeqs,
    prefixCaching: false,
    seed: cfg.seed,
    nanoBatches: mode,
  });
  const stats0 = snapshot(runner);
  const short: string[] = [];
  const start = performance.now();
  const one = async (i: number) => {
    await new Promise((r) => setTimeout(r, arrive[i]! * 1000));
    const { ids, times, finishReason } = await driveGreedy(engine, prompts[i]!, outputs[i]!, start);
    if (ids.length !== outputs[i] || finishReason !== 'length')
      short.push(`${modeName(mode)}: request ${i} asked for ${outputs[i]}, got ${ids.length} (${finishReason})`);
    return { ids, trace: { arrival: arrive[i]!, tokens: times } };
  };
  const done = await Promise.all(prompts.map((_, i) => one(i)));
  const wallS = (performance.now() - start) / 1e3;
  await engine.shutdown();
  const counts = countsSince(runner, stats0, engine.stepSummary());
  console.log(describeCounts(`${what}, ${modeName(mode)} (${wallS.toFixed(1)} s)`, counts));
  return {
    ids: done.map((d) => d.ids),
    traces: done.map((d) => d.trace),
    wallS,
    forwards: counts.steps,
    counts,
    short,
  };
}

/**
 * The warm-up both arms share, outside the numbers: the runner's own start-up warm-up (what
 * `tessera serve` runs before listening: a decode stream for every batch bucket up to maxSeqs, a
 * mixed stream for every row bucket, the prefill buckets), then both modes over `prompts` with
 * short outputs. Without the first, the arm that runs first records every step shape it meets on
 * the spot (the whole step encoded on the host and its pipelines compiled, about a second each at
 * 8B) and the second arm replays them (docs/notes/2026-12-08-nanoflow-baseline.md).
 */
export async function warmArms(
  runner: LlamaRunner,
  cfg: ArmConfig,
  nano: number,
  prompts: number[][],
  outputs: number[],
  o: { runnerWarmUp?: boolean } = {},
): Promise<WarmUpReport> {
  const report = o.runnerWarmUp === false ? { steps: 0, ms: 0 } : await runner.warmUp({ softwareToo: true });
  const held =
    'recordedBytes' in report ? `, recorded steps hold ${((report.recordedBytes ?? 0) / 2 ** 20).toFixed(1)} MiB` : '';
  console.log(`runner warm-up: ${report.steps} step shapes in ${(report.ms / 1e3).toFixed(1)} s${held}`);
  const at0 = prompts.map(() => 0);
  for (const mode of ['off', nano] as const) await serveArm(runner, cfg, 'warm-up', mode, prompts, outputs, at0);
  return report;
}
