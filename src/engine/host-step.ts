/**
 * A step driven from the host: one `forward` over a mixed batch of decode tokens and prefill
 * chunks, then each sequence whose tokens are all computed draws its next token, on the device
 * where its sampling is plain, else on the host from the logits (penalties, bias, logprobs,
 * grammars, and the fork of an n > 1 request after its prompt).
 */
import { deviceRow, deviceSamplable } from './device-sampling.js';
import { sampleToken } from './sampler.js';
import type { ScheduledChunk } from './scheduler.js';
import type { Sequence } from './sequence.js';
import type { StepContext } from './step-context.js';

export async function runHostStep(ctx: StepContext, chunks: readonly ScheduledChunk[]): Promise<void> {
  const { runner, kv } = ctx;
  const vocab = runner.vocabSize;
  // Rows that need a token now, and which of them the device can draw.
  const sampled = chunks.map((c) => c.seq.pendingTokens === c.count);
  const onDevice = chunks.map(
    (c, i) => sampled[i]! && runner.sampleOnDevice !== undefined && deviceSamplable(c.seq.request),
  );
  const readLogits = sampled.some((s, i) => s && !onDevice[i]);
  let logits: Float32Array;
  let deviceTokens: Int32Array | null = null;
  const t0 = performance.now();
  try {
    logits = await runner.forward(
      {
        seqs: chunks.map((c) => ({
          tokens: c.seq.tokens.slice(c.start, c.start + c.count),
          start: c.start,
          pages: c.seq.pages.slice(0, kv.pagesFor(c.start + c.count)),
          ...(c.seq.request.params.adapter !== undefined ? { adapter: c.seq.request.params.adapter } : {}),
          ...(c.seq.longContext ? { longContext: c.seq.longContext.id } : {}),
        })),
      },
      { readLogits },
    );
    if (readLogits && logits.length !== chunks.length * vocab)
      throw new Error(`returned ${logits.length} logits for ${chunks.length} sequences × vocab ${vocab}`);
    const rows = chunks.flatMap((c, i) => (onDevice[i] ? [deviceRow(i, c.seq)] : []));
    if (rows.length) deviceTokens = await runner.sampleOnDevice!(rows);
  } catch (e) {
    ctx.failEngine(`model forward failed: ${(e as Error).message}`);
    return;
  }
  ctx.counters.steps++;
  observeStep(ctx, chunks, performance.now() - t0);
  let d = 0;
  for (let i = 0; i < chunks.length; i++) {
    const { seq, count } = chunks[i]!;
    const token = onDevice[i] ? deviceTokens![d++]! : -1;
    if (seq.request.aborted || seq.status !== 'running') continue;
    seq.numComputed += count;
    if (seq.outputLength === 0 || count > 1) ctx.counters.promptTokensComputed += count;
    kv.cacheFullPages(seq);
    if (seq.pendingTokens > 0) continue; // mid-prefill: these logits are not needed
    try {
      if (onDevice[i]) ctx.outputs.accept(seq, { token });
      else await sampleNext(ctx, seq, logits.subarray(i * vocab, (i + 1) * vocab));
    } catch (e) {
      ctx.outputs.fail(seq.request, e);
    }
  }
}

/**
 * Reports a step's wall time (forward and device draw) as decode-only, mixed or prefill-only, by its
 * tokens. The measured prefill budget learns from mixed and prefill-only steps alike: a step's cost
 * is its rows, whatever they are.
 */
function observeStep(ctx: StepContext, chunks: readonly ScheduledChunk[], ms: number): void {
  const rows = chunks.reduce((a, c) => a + c.count, 0);
  const isDecode = (c: ScheduledChunk) => c.count === 1 && c.seq.outputLength > 0;
  const decodeOnly = chunks.every(isDecode);
  ctx.stepLog.record(decodeOnly ? 'decode' : chunks.some(isDecode) ? 'mixed' : 'prefill', rows, ms);
  if (decodeOnly) ctx.stepTimes?.observeDecode(rows, ms);
  else ctx.stepTimes?.observeMixed(rows, ms);
}

/** Samples the next token of `seq` (and, right after the prompt of an n > 1 request, of its forks). */
async function sampleNext(ctx: StepContext, seq: Sequence, row: Float32Array): Promise<void> {
  const request = seq.request;
  const targets = request.forked ? [seq] : request.sequences;
  // Masks: a fork's grammar is in the same (initial) state as the first sequence's.
  const mask = seq.constraint ? await seq.constraint.nextMask() : null;
  const picks = targets.map((target) =>
    sampleToken(row, request.params, {
      seen: target.seen,
      outputCounts: target.outputCounts,
      seed: request.params.seed!,
      stream: target.index,
      step: target.outputLength,
      mask,
    }),
  );
  if (!request.forked) {
    request.forked = true;
    const copies: [number, number][] = [];
    for (const child of targets.slice(1)) fork(ctx, seq, child, copies);
    // Before any token is accepted: a completion that ends at once must not free a page being copied.
    if (copies.length) await ctx.runner.copyPages!(copies);
  }
  for (let i = 0; i < targets.length; i++) ctx.outputs.accept(targets[i]!, picks[i]!);
}

/** Lets `child` share the prompt's full pages of `parent`; the partial last page is copied (or recomputed). */
function fork(ctx: StepContext, parent: Sequence, child: Sequence, copies: [number, number][]): void {
  const { kv, scheduler } = ctx;
  const full = Math.floor(parent.numComputed / kv.pageSize);
  const partial = parent.numComputed % kv.pageSize !== 0;
  const own = partial && ctx.runner.copyPages ? kv.allocate(1) : [];
  if (own === null) {
    scheduler.enqueue(child); // no page for the copy now: recompute through the prefix cache later
    return;
  }
  for (let p = 0; p < full; p++) kv.pool.retain(parent.pages[p]!);
  child.pages = [...parent.pages.slice(0, full), ...own];
  if (own.length) copies.push([parent.pages[full]!, own[0]!]);
  child.numComputed = own.length || !partial ? parent.numComputed : full * kv.pageSize;
  child.cachedPages = parent.cachedPages;
  child.cacheNode = parent.cacheNode;
  scheduler.addRunning(child);
}
