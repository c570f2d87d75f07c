/**
 * The GPU-resident decode loop: decode steps of a fixed batch submitted back to back, each
 * feeding the ids the previous one drew on the device (docs/decode-loop.md).
 */
import { deviceRow, deviceSamplable } from './device-sampling.js';
import type { Sequence } from './sequence.js';
import type { StepContext } from './step-context.js';

/**
 * Decode steps kept in flight: the GPU runs step k+1 while the host reads step k's ids and plans
 * k+2. Tokens drawn past a stop are discarded, so deeper costs wasted steps at each finish.
 */
const RESIDENT_DEPTH = 3;

/**
 * A pure-decode batch of plainly sampled requests, with nobody waiting to be admitted, runs on the
 * GPU-resident loop: the batch composition is fixed for the run, so the drawn ids can chain on
 * the device.
 */
export function residentEligible(ctx: StepContext, chunks: readonly { seq: Sequence; count: number }[]): boolean {
  return (
    ctx.runner.submitDecode !== undefined &&
    ctx.scheduler.waiting.length === 0 &&
    chunks.every((c) => c.count === 1 && c.seq.pendingTokens === 1 && deviceSamplable(c.seq.request))
  );
}

/**
 * Decode steps of a fixed batch back to back, up to RESIDENT_DEPTH in flight. Results are
 * accepted in order as they arrive; when a sequence finishes (or a request arrives or is aborted)
 * no further step is submitted, the steps in flight are drained, and their tokens for finished
 * sequences are discarded.
 */
export async function runResidentDecode(ctx: StepContext, seqs: readonly Sequence[]): Promise<void> {
  const base = seqs.map((s) => ({ computed: s.numComputed, output: s.outputLength }));
  const inFlight: Promise<Int32Array>[] = [];
  let submitted = 0;
  let open = true;
  let lastResult: number | null = null;
  try {
    for (;;) {
      while (open && inFlight.length < RESIDENT_DEPTH && canExtend(ctx, seqs, base, submitted)) {
        const k = submitted++;
        const tokens = k === 0 ? Int32Array.from(seqs, (s) => s.tokens[s.numComputed]!) : null;
        const rows = seqs.map((s, i) => ({ ...deviceRow(i, s), step: base[i]!.output + k }));
        const step = ctx.runner.submitDecode!(
          seqs.map((s, i) => ({
            start: base[i]!.computed + k,
            pages: s.pages,
            ...(s.request.params.adapter !== undefined ? { adapter: s.request.params.adapter } : {}),
          })),
          tokens,
          rows,
        );
        step.catch(() => {}); // awaited below in order; a rejection is handled there
        inFlight.push(step);
      }
      if (inFlight.length === 0) return;
      const ids = await inFlight.shift()!;
      // with steps queued behind each other, the time between two results is one step's GPU time
      const now = performance.now();
      if (lastResult !== null) {
        ctx.stepTimes?.observeDecode(seqs.length, now - lastResult);
        ctx.stepLog.record('decode', seqs.length, now - lastResult);
      }
      lastResult = now;
      acceptIds(ctx, seqs, ids);
      if (seqs.some((s) => s.status !== 'running' || s.request.aborted)) open = false;
    }
  } finally {
    await Promise.allSettled(inFlight);
  }
}

/** Whether step k (computing position computed+k, drawing output token output+k+1) may be submitted. */
function canExtend(
  ctx: StepContext,
  seqs: readonly Sequence[],
  base: readonly { computed: number; output: number }[],
  k: number,
): boolean {
  if (k === 0) return true; // the scheduler gave this step its pages
  if (ctx.stopped() || ctx.scheduler.waiting.length > 0) return false;
  return seqs.every((s, i) => {
    const b = base[i]!;
    if (s.status !== 'running' || s.request.aborted) return false;
    if (b.output + k + 1 > s.request.params.maxTokens || b.computed + k + 1 > ctx.runner.maxContext) return false;
    return ctx.kv.ensureCapacity(s, b.computed + k + 1);
  });
}

/** One step's drawn ids, accepted for the sequences still running (the others' are discarded). */
function acceptIds(ctx: StepContext, seqs: readonly Sequence[], ids: Int32Array): void {
  ctx.counters.steps++;
  for (const [i, seq] of seqs.entries()) {
    if (seq.request.aborted || seq.status !== 'running') continue;
    seq.numComputed += 1;
    ctx.kv.cacheFullPages(seq);
    try {
      ctx.outputs.accept(seq, { token: ids[i]! });
    } catch (e) {
      ctx.outputs.fail(seq.request, e);
    }
  }
}
