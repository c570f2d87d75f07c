/**
 * A small tuner over (format, schedule) pairs: for a matrix signature it times each candidate on
 * the backend and caches the fastest, so matrices of the same shape class reuse the plan without
 * timing again. The signature is what decides speed, not the values: the shape, the nonzero count
 * and the row-length distribution (a log2 histogram), plus the feature count.
 */
import type { Backend } from '../backends/backend.js';
import { rowLengths } from './coo.js';
import { type FormatSpec, formatName, storageBlowup, toFormat } from './convert.js';
import type { Coo } from './formats.js';
import { MAX_WORKGROUP, type SpmmSchedule, defaultSchedule, scheduleName, whySpmmScheduleInvalid } from './schedule.js';
import { spmm, upload } from './upload.js';

export interface Candidate {
  readonly format: FormatSpec;
  readonly schedule: SpmmSchedule;
}

export interface TunedPlan {
  readonly signature: string;
  readonly best: Candidate;
  /** Milliseconds per call of every candidate timed, in candidate order. */
  readonly timings: readonly { readonly candidate: Candidate; readonly ms: number }[];
}

export const SPMM_FORMATS: readonly FormatSpec[] = [
  { kind: 'csr' },
  { kind: 'coo' },
  { kind: 'ell' },
  { kind: 'bsr', block: 4 },
  { kind: 'bsr', block: 16 },
  { kind: 'hyb', maxWidth: 8 },
  { kind: 'hyb', maxWidth: 32 },
  // rows over the segment length split across workgroups (`row-split.ts`); the length is the
  // tuned parameter: shorter segments shorten the longest chain but add workgroups and partials
  { kind: 'hyb', maxWidth: 32, split: 256 },
  { kind: 'hyb', maxWidth: 32, split: 1024 },
];

export const MAX_BLOWUP = 4;

export function candidateName(c: Candidate): string {
  return `${formatName(c.format)}.${scheduleName(c.schedule)}`;
}

/**
 * Why `spec` is left out of the search for `a`, or null: ELL and BSR padding over `MAX_BLOWUP`
 * of the nonzeros; a split hybrid with no row over its segment length (it would be the plain one).
 */
export function whyFormatSkipped(a: Coo, spec: FormatSpec): string | null {
  const blowup = storageBlowup(a, spec);
  if (blowup > MAX_BLOWUP) return `stores ${blowup.toFixed(1)}× the nonzeros`;
  if (spec.kind === 'hyb' && spec.split !== undefined) {
    const longest = rowLengths(a).reduce((x, y) => Math.max(x, y), 0);
    if (longest <= spec.split) return `no row is longer than the segment length (longest ${longest})`;
  }
  return null;
}

/** Row-length histogram by powers of two: slot b counts rows of length in [2^(b−1), 2^b), slot 0 empty rows. */
function lengthHistogram(a: Coo): number[] {
  const h: number[] = [];
  for (const len of rowLengths(a)) {
    const b = len === 0 ? 0 : Math.floor(Math.log2(len)) + 1;
    while (h.length <= b) h.push(0);
    h[b]!++;
  }
  return h;
}

/**
 * Shape, nonzeros and the row-length histogram rounded to a 1/16 share of rows per slot. The
 * histogram runs to the longest row's slot, so a single hub row (far under 1/16 of the rows) still
 * changes the signature: a split plan is chosen for the hubs a matrix has.
 */
export function matrixSignature(a: Coo, f: number): string {
  const share = lengthHistogram(a).map((n) => Math.round((16 * n) / Math.max(1, a.m)));
  return `m${a.m} k${a.k} nnz${a.vals.length} f${f} rows[${share.join(',')}]`;
}

/**
 * The search space: CSR, COO, a global ELL, BSR 4 and 16, hybrids with widest buckets 8 and 32,
 * and the hybrid of width 32 with rows split into segments of 256 or 1024 entries (ELL and BSR only
 * where their padding stays within `MAX_BLOWUP` of the nonzeros: on power-law graphs they would
 * store many times the matrix; split hybrids only where a row is longer than a segment); thread shapes around the default and the
 * default's threads per row in a workgroup of the most threads.
 */
export function spmmCandidates(a: Coo, f: number): Candidate[] {
  const base = defaultSchedule(f);
  const narrow: SpmmSchedule = {
    ...base,
    threadsPerRow: Math.max(1, base.threadsPerRow / 4),
    rowsPerWorkgroup: Math.min(256, base.rowsPerWorkgroup * 4),
  };
  const wide: SpmmSchedule = {
    ...base,
    threadsPerRow: Math.min(64, base.threadsPerRow * 2),
    rowsPerWorkgroup: Math.max(1, base.rowsPerWorkgroup / 2),
  };
  // the widest workgroup: the hybrid's long rows get the most thread groups over their entries
  const full: SpmmSchedule = { ...base, rowsPerWorkgroup: Math.max(1, MAX_WORKGROUP / base.threadsPerRow) };
  const schedules = [base, narrow, wide, full].filter(
    (s, i, all) =>
      whySpmmScheduleInvalid(s, f) === null && all.findIndex((o) => scheduleName(o) === scheduleName(s)) === i,
  );
  const formats = SPMM_FORMATS.filter((spec) => whyFormatSkipped(a, spec) === null);
  return formats.flatMap((format) => schedules.map((schedule) => ({ format, schedule })));
}

/** Milliseconds per call of `enqueue` on `backend`. */
export type SpmmTimer = (backend: Backend, enqueue: () => void) => Promise<number>;

/**
 * Replays of a recorded dispatch stream where the backend records (the encoding cost is not
 * what a plan changes), plain runs otherwise; a warm-up first, then the median of 5 batches. A
 * batch is one submit of 10 replays: on a fast GPU a submit per call costs about what a small
 * SpMM does, and would hide the differences between plans.
 */
export const defaultTimer: SpmmTimer = async (backend, enqueue) => {
  const stream = backend.record?.(enqueue);
  const batch = stream
    ? () => stream.replay(10)
    : () => {
        for (let r = 0; r < 10; r++) enqueue();
      };
  try {
    batch();
    await backend.flush();
    const per: number[] = [];
    for (let b = 0; b < 5; b++) {
      const t0 = performance.now();
      batch();
      await backend.flush();
      per.push((performance.now() - t0) / 10);
    }
    return per.sort((x, y) => x - y)[2]!;
  } finally {
    stream?.destroy();
  }
};

export class SpmmTuner {
  private readonly plans = new Map<string, TunedPlan>();
  constructor(
    private readonly backend: Backend,
    private readonly timer: SpmmTimer = defaultTimer,
  ) {}

  /** The cached plan for `a` at `f` features, or null when none is cached. */
  cached(a: Coo, f: number): TunedPlan | null {
    return this.plans.get(matrixSignature(a, f)) ?? null;
  }

  /** The cached plan, or the fastest of `candidates` timed now (and cached). */
  async tune(a: Coo, f: number, candidates: readonly Candidate[] = spmmCandidates(a, f)): Promise<TunedPlan> {
    const signature = matrixSignature(a, f);
    const hit = this.plans.get(signature);
    if (hit) return hit;
    if (candidates.length === 0) throw new Error(`sparse tuner: no candidates for ${signature}`);
    const b = this.backend;
    const x = b.alloc({ dtype: 'f32', shape: [a.k, f] }, 'tuner.x', 'sparse');
    const y = b.alloc({ dtype: 'f32', shape: [a.m, f] }, 'tuner.y', 'sparse');
    const timings: { candidate: Candidate; ms: number }[] = [];
    try {
      b.write(x, new Float32Array(a.k * f).fill(1));
      // each format converted and uploaded once for all its schedules: on graphs of millions of
      // edges the host-side conversion, not the timing, is what a candidate costs
      const ms = new Map<Candidate, number>();
      for (const format of new Set(candidates.map((c) => formatName(c.format)))) {
        const mine = candidates.filter((c) => formatName(c.format) === format);
        const dev = upload(b, toFormat(a, mine[0]!.format), 'tuner');
        try {
          for (const c of mine) ms.set(c, await this.timer(b, () => spmm(b, dev, c.schedule, x, y)));
        } finally {
          dev.free();
        }
      }
      for (const candidate of candidates) timings.push({ candidate, ms: ms.get(candidate)! });
    } finally {
      b.free(x);
      b.free(y);
    }
    const best = timings.reduce((p, q) => (q.ms < p.ms ? q : p)).candidate;
    const plan: TunedPlan = { signature, best, timings };
    this.plans.set(signature, plan);
    return plan;
  }

  /** The cache as JSON-ready data, and back: a process can start with earlier plans. */
  export(): TunedPlan[] {
    return [...this.plans.values()];
  }
  import(plans: readonly TunedPlan[]): void {
    for (const p of plans) this.plans.set(p.signature, p);
  }
}
