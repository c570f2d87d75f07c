/**
 * What a serving arm's steps were, from the counts the runner keeps (`LlamaRunner.stats`) and the
 * engine's step log: how many replayed a recorded stream and how many the host encoded (a stream
 * recorded on the spot, or a step run unrecorded), and how many steps of each kind and row bucket
 * ran, with their mean wall time. Two arms of one bench compared by throughput alone hide why one
 * is faster; a step encoded on the host costs ~200 ms at 8B where its replay costs a few ms, so
 * these counts are printed beside the numbers.
 */
import type { StepBucketSummary } from '../src/engine/step-log.js';
import type { LlamaRunner } from '../src/models/llama/llama-runner.js';

type Stats = LlamaRunner['stats'];

export interface StepCounts {
  /** Runner forwards (a nano-batch is one; resident decode steps included). */
  steps: number;
  /** Steps that replayed a stream recorded before them. */
  replayed: number;
  /** Streams recorded in the step (the whole step encoded on the host, then replayed). */
  recorded: number;
  /** Steps run unrecorded (encoded on the host). */
  unrecorded: number;
  resident: number;
  recordingsGivenUp: number;
  /** Per kind and row bucket (the next power of two of the step's rows): count and mean wall ms. */
  buckets: StepBucketSummary[];
}

/** A copy of the runner's counters, to subtract from later. */
export function snapshot(runner: LlamaRunner): Stats {
  return { ...runner.stats };
}

/** The counts since `before`, with the engine's step log of the same span. */
export function countsSince(runner: LlamaRunner, before: Stats, buckets: StepBucketSummary[]): StepCounts {
  const d = (k: keyof Stats) => runner.stats[k] - before[k];
  const recorded = d('decodeRecords') + d('prefillRecords') + d('mixedRecords');
  return {
    steps: d('steps'),
    replayed: d('replays') + d('prefillReplays') + d('mixedReplays'),
    recorded,
    unrecorded: d('transientSteps'),
    resident: d('residentSteps'),
    recordingsGivenUp: d('recordingsGivenUp'),
    buckets,
  };
}

/** One line per arm: replayed vs encoded steps, then each (kind, rows) bucket's count and mean ms. */
export function describeCounts(label: string, c: StepCounts): string {
  const pct = (x: number) => (c.steps ? `${((100 * x) / c.steps).toFixed(0)}%` : '—');
  const rows = c.buckets.map((b) => `${b.kind} ≤${b.rows}: ${b.count} × ${b.meanMs.toFixed(1)} ms`).join(', ');
  return (
    `${label}: ${c.steps} forwards (${c.resident} resident decode), ${c.replayed} replayed (${pct(c.replayed)}), ` +
    `${c.recorded} recorded on the spot (${pct(c.recorded)}), ${c.unrecorded} unrecorded (${pct(c.unrecorded)})` +
    `${c.recordingsGivenUp ? `, ${c.recordingsGivenUp} recordings given up (out of memory)` : ''}; steps by rows: ${rows}`
  );
}
