/**
 * Nano-batching (docs/nanoflow.md): a host-driven step's batch split into nano-batches that run
 * one after another on the one queue, so that the work of one (its attention, its uploads) can
 * sit beside the next one's projections instead of the whole batch waiting for each op in turn.
 * Each sequence's tokens are computed exactly as in the plain step: a nano-batch is a step of its
 * own over a subset of the sequences, and no sequence is in two of them.
 *
 * The GPU-resident decode loop keeps whole batches: its steps already overlap host and device (the
 * host plans step k+2 while the GPU runs k+1).
 */
import { runHostStep } from './host-step.js';
import type { ScheduledChunk } from './scheduler.js';
import type { StepContext } from './step-context.js';

/** `nanoBatches` of EngineOptions: a fixed count, 'auto' (chosen per step by `NanoPlanner`), or off. */
export type NanoBatchSetting = number | 'auto' | 'off';

/** Chooses the nano-batch count of a step from its decode and prefill token counts. */
export type NanoPlanner = (decodeTokens: number, prefillTokens: number) => number;

/** Validates the option; returns the fixed count (1 = off) or 'auto'. */
export function resolveNanoBatches(setting: NanoBatchSetting | undefined): number | 'auto' {
  if (setting === undefined || setting === 'off') return 1;
  if (setting === 'auto') return 'auto';
  if (!Number.isInteger(setting) || setting < 1)
    throw new RangeError(`nanoBatches must be a positive integer, 'auto' or 'off', got ${setting}`);
  return setting;
}

/**
 * Splits a step's chunks into at most `n` contiguous nano-batches of about equal token counts
 * (a prefill chunk is never cut: its tokens belong to one sequence's one forward). Order is kept,
 * so concatenating the nano-batches gives the step back.
 */
export function splitNanoBatches<T extends { count: number }>(chunks: readonly T[], n: number): T[][] {
  const parts = Math.max(1, Math.min(n, chunks.length));
  const total = chunks.reduce((a, c) => a + c.count, 0);
  const out: T[][] = [];
  let current: T[] = [];
  let done = 0;
  for (const [i, c] of chunks.entries()) {
    current.push(c);
    done += c.count;
    const left = chunks.length - i - 1;
    const partsLeft = parts - out.length - 1;
    // close the part once it reaches its share of the tokens, keeping a chunk for every later part
    if (partsLeft > 0 && (done >= (total * (out.length + 1)) / parts || left === partsLeft) && left >= partsLeft) {
      out.push(current);
      current = [];
    }
  }
  if (current.length) out.push(current);
  return out;
}

/** Runs a host-driven step as `n` nano-batches in order. */
export async function runNanoBatchedStep(
  ctx: StepContext,
  chunks: readonly ScheduledChunk[],
  n: number,
): Promise<void> {
  const steps = ctx.counters.steps;
  for (const part of splitNanoBatches(chunks, n)) {
    if (ctx.stopped()) break;
    await runHostStep(ctx, part);
  }
  // the engine's step count counts scheduler steps, however many nano-batches each ran as
  ctx.counters.steps = steps + 1;
}
