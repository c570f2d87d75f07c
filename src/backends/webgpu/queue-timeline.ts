/**
 * When the GPU queue is expected to finish each submission, so that a host read asks for its map
 * shortly before its work ends instead of right after the submit.
 *
 * Why: dawn.node resolves a map request by processing device events on every turn of Node's event
 * loop while any request is pending, and every turn allocates a fresh JS function (its own TODO,
 * crbug.com/dawn/1127). A serving loop always has a read pending, so the host spins the whole time
 * the GPU works, making tens of MB of garbage a second that outlives the young generation. On the
 * H100 the 8B serving bench paused 180–350 ms in mark-compact collections every few seconds, and
 * those pauses were its 330–820 ms steps (docs/notes/2026-12-08-host-gc-pauses.md). Sleeping on a
 * timer through most of the wait leaves nothing to spin.
 *
 * The forecast: a submission of a recorded stream costs what that stream cost lately (the least of
 * its last SAMPLES observed costs, once it has MIN_SAMPLES), starting when the one before it is
 * forecast to end. A submit of one or two unrecorded dispatches (a step's device sampling) costs
 * nothing; other work (an unrecorded step, a stream not yet measured) makes the forecast unknown
 * until a read completes, and reads then map at once, as before. A completed read re-anchors the
 * forecast of the work still in flight to the moment it saw, and teaches the cost of the one
 * stream submitted since the previous completed read, but only where its map waited for the work:
 * a map that resolved at once (its read slept too long, or its caller asked late) says only that
 * the stream costs at most that much, so the estimate shrinks by DECAY. A forecast that runs long
 * thus corrects itself instead of confirming itself.
 */

import { platform } from '../../platform/current.js';

/** Costs kept per stream; the least of them is the estimate. */
const SAMPLES = 8;
/** Costs seen before a stream has an estimate: one slow first sample (a host pause) must not set it. */
const MIN_SAMPLES = 2;
/**
 * A read wakes this share of its submission's forecast wait early (and at least MIN_MARGIN_MS): a
 * forecast chained over several queued steps errs by more than one of a single step.
 */
const MARGIN = 0.1;
const MIN_MARGIN_MS = 1;
/** A map that resolves within this time of being asked was already done when asked. */
const ALREADY_DONE_MS = 0.5;
/** The longest a read sleeps in all, whatever the forecast says (a long recorded step takes ~0.4 s at 8B). */
const MAX_SLEEP_MS = 2000;
/** Submissions remembered without a completed read. */
const MAX_IN_FLIGHT = 64;
/** The estimate's factor after a read that found its work already done. */
const DECAY = 0.75;

/**
 * What a submission ran: a recorded stream (its cost is learned), work too small to count (a copy,
 * a dispatch or two between steps: `free`), or other work (`unknown`).
 */
export type SubmittedWork = object | 'free' | 'unknown';

/**
 * Unrecorded dispatches of at most this many in one submit count as free: a step's device sampling
 * and the like. Taking a larger one for free only wakes its read early, where it then polls as before.
 */
const FREE_DISPATCHES = 2;

/** How a submit of `dispatches` unrecorded dispatches enters the forecast. */
export const unrecordedWork = (dispatches: number): SubmittedWork =>
  dispatches <= FREE_DISPATCHES ? 'free' : 'unknown';

interface Submission {
  readonly work: SubmittedWork;
  readonly at: number;
  /** Forecast end (host ms); NaN where unknown. */
  end: number;
}

export class QueueTimeline {
  private count = 0;
  /** Submissions after the last one known complete, by number. */
  private readonly inFlight = new Map<number, Submission>();
  private doneThrough = 0;
  private doneAt = Number.NEGATIVE_INFINITY;
  private readonly costs = new WeakMap<object, number[]>();

  constructor(
    private readonly now: () => number = () => performance.now(),
    /** Off (`TESSERA_READ_PACING=off`): every read maps at once, for A/B runs of the pacing itself. */
    private readonly pacing = platform.env('TESSERA_READ_PACING') !== 'off',
  ) {}

  /** Notes a submission (call right after `queue.submit`); returns its number for `wakeAt` and `completed`. */
  submitted(work: SubmittedWork): number {
    const at = this.now();
    // work nobody reads back (a loop of replays, a flush elsewhere) is forgotten, not kept forever
    if (this.inFlight.size >= MAX_IN_FLIGHT) this.settle(this.count, at);
    const n = ++this.count;
    const prev = this.inFlight.get(n - 1);
    const start = prev ? prev.end : at;
    this.inFlight.set(n, { work, at, end: Math.max(start, at) + this.costOf(work) });
    return n;
  }

  /** The host time to ask for submission n's map: its forecast end less the margin (0: ask now). */
  wakeAt(n: number): number {
    if (!this.pacing) return 0;
    const s = this.inFlight.get(n);
    if (!s || !Number.isFinite(s.end)) return 0;
    return s.end - Math.max(MIN_MARGIN_MS, MARGIN * (s.end - s.at));
  }

  /**
   * Submission n (and so every earlier one) was complete at `at`; its map was asked at `askedAt`.
   * Only a map that waited for its work measures a cost; one that resolved at once (the work was
   * done before it was asked: the read slept too long, or its caller asked late) shrinks the
   * estimate instead.
   */
  completed(n: number, askedAt: number, at = this.now()): void {
    if (n <= this.doneThrough) return;
    const done = [...this.inFlight.entries()].filter(([k]) => k <= n);
    const costly = done.filter(([, s]) => s.work !== 'free');
    if (costly.length === 1 && typeof costly[0]![1].work === 'object') {
      const s = costly[0]![1];
      const key = s.work as object;
      const est = this.estimate(key);
      // a map asked after its work was done says only that the work took at most this long
      if (at - askedAt >= ALREADY_DONE_MS) this.learn(key, at - Math.max(s.at, this.doneAt));
      else if (est !== undefined) this.learn(key, est * DECAY);
    }
    this.settle(n, at);
  }

  /** Everything submitted so far was complete at `at` (a flush saw it): nothing is learned. */
  settled(at = this.now()): void {
    if (this.count > this.doneThrough) this.settle(this.count, at);
  }

  private settle(n: number, at: number): void {
    for (const k of [...this.inFlight.keys()]) if (k <= n) this.inFlight.delete(k);
    this.doneThrough = n;
    this.doneAt = at;
    // the work still in flight now starts from what was seen, not from what was forecast
    let end = at;
    for (const [, s] of [...this.inFlight.entries()].sort(([a], [b]) => a - b)) {
      end = Math.max(end, s.at) + this.costOf(s.work);
      s.end = end;
    }
  }

  /** The stream's estimated cost (ms), or undefined before MIN_SAMPLES completed reads. */
  estimate(key: object): number | undefined {
    const c = this.costs.get(key);
    return c && c.length >= MIN_SAMPLES ? Math.min(...c) : undefined;
  }

  private costOf(work: SubmittedWork): number {
    if (work === 'free') return 0;
    if (work === 'unknown') return Number.NaN;
    return this.estimate(work) ?? Number.NaN;
  }

  private learn(key: object, ms: number): void {
    const c = this.costs.get(key) ?? [];
    c.push(Math.max(0, ms));
    if (c.length > SAMPLES) c.shift();
    this.costs.set(key, c);
  }
}

/**
 * Waits until submission n's forecast end less the margin, on a timer (no device polling), then
 * maps `buffer` for reading and reports the completion. Where the forecast is unknown it maps at once.
 */
export async function pacedMapRead(timeline: QueueTimeline, n: number, buffer: GPUBuffer): Promise<void> {
  // a completion seen meanwhile may move the forecast later, so the wake time is asked again;
  // timers fire on whole milliseconds at best: a shorter wait is not worth a turn of the loop
  const until = performance.now() + MAX_SLEEP_MS;
  for (;;) {
    const wait = Math.min(timeline.wakeAt(n), until) - performance.now();
    if (wait < 1) break;
    await new Promise((r) => setTimeout(r, wait));
  }
  const askedAt = performance.now();
  await buffer.mapAsync(GPUMapMode.READ);
  timeline.completed(n, askedAt);
}
