/**
 * Wall times of the engine's steps, decode-only, mixed (a prefill chunk beside decodes) and
 * prefill-only apart, per row bucket, for the percentiles a serving run reports (`Engine.stepSummary`). Inter-token
 * latency tails come from the slow steps every decoding request waits through, so the summary says
 * which kind and size of step they are. Each (kind, bucket) keeps its last SAMPLES times: a long
 * server run holds a bounded window, and a bench resets it between rates.
 */
import { nearestRank } from '../util/nearest-rank.js';
import { rowBucket } from './step-times.js';

/**
 * Prefill-only steps are kept apart from mixed ones because no decoding request waits through
 * them: only a mixed step's time is an inter-token gap.
 */
export type StepKind = 'decode' | 'mixed' | 'prefill';

const KIND_ORDER: Record<StepKind, number> = { decode: 0, mixed: 1, prefill: 2 };

/** Times kept per (kind, bucket). */
const SAMPLES = 4096;

export interface StepBucketSummary {
  kind: StepKind;
  /** The bucket: the next power of two of the step's tokens. */
  rows: number;
  /** Steps seen since the last reset (the percentiles cover the last SAMPLES of them). */
  count: number;
  meanMs: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export class StepLog {
  private readonly times = new Map<string, { kind: StepKind; rows: number; count: number; ring: number[] }>();

  record(kind: StepKind, rows: number, ms: number): void {
    const bucket = rowBucket(rows);
    const key = `${kind}:${bucket}`;
    let entry = this.times.get(key);
    if (!entry) this.times.set(key, (entry = { kind, rows: bucket, count: 0, ring: [] }));
    if (entry.ring.length < SAMPLES) entry.ring.push(ms);
    else entry.ring[entry.count % SAMPLES] = ms;
    entry.count++;
  }

  /** Per (kind, bucket): decode-only, mixed, prefill-only, each by rows. */
  summary(): StepBucketSummary[] {
    return [...this.times.values()]
      .sort((a, b) => KIND_ORDER[a.kind] - KIND_ORDER[b.kind] || a.rows - b.rows)
      .map(({ kind, rows, count, ring }) => {
        const sorted = [...ring].sort((a, b) => a - b);
        return {
          kind,
          rows,
          count,
          meanMs: sorted.reduce((s, x) => s + x, 0) / sorted.length,
          p50Ms: nearestRank(sorted, 0.5),
          p99Ms: nearestRank(sorted, 0.99),
          maxMs: sorted[sorted.length - 1]!,
        };
      });
  }

  reset(): void {
    this.times.clear();
  }
}
