/**
 * What the Llama runner checks and gathers around a step, apart from running it: the step's page
 * table rows validated against the pool and the runner's limits, and device sampling of chosen
 * rows of the last logits (only token ids cross to the host).
 */
import type { Backend, Tensor } from '../../backends/backend.js';
import type { DeviceSampleRow, ForwardBatch } from '../../engine/model-runner.js';
import { packSampleParams } from '../../ops/sample.js';
import type { StepRows } from './kv-cache.js';

export class StepError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StepError';
  }
}

/** The limits a step is validated against. */
export interface StepLimits {
  readonly maxSeqs: number;
  readonly maxTokens: number;
  readonly maxContext: number;
  readonly pageSize: number;
  readonly numPages: number;
}

/** The step's page table rows (after appending), validated against the pool. */
export function stepRows(batch: ForwardBatch, lim: StepLimits): StepRows {
  const { seqs } = batch;
  if (seqs.length === 0) throw new StepError('a step needs at least one sequence');
  if (seqs.length > lim.maxSeqs)
    throw new StepError(`${seqs.length} sequences in one step, over the runner's maxSeqs ${lim.maxSeqs}`);
  const total = seqs.reduce((a, s) => a + s.tokens.length, 0);
  if (total > lim.maxTokens)
    throw new StepError(`${total} tokens in one step, over the runner's maxTokens ${lim.maxTokens}`);
  const indptr = new Int32Array(seqs.length + 1);
  const indices: number[] = [];
  const lastPageLen = new Int32Array(seqs.length);
  seqs.forEach((s, i) => {
    const len = s.start + s.tokens.length;
    if (s.tokens.length === 0) throw new StepError(`sequence ${i} has no new tokens`);
    if (len > lim.maxContext)
      throw new StepError(`sequence ${i} reaches position ${len}, over the model's context of ${lim.maxContext}`);
    const pages = Math.ceil(len / lim.pageSize);
    if (s.pages.length < pages)
      throw new StepError(`sequence ${i} needs ${pages} KV pages for ${len} tokens, ${s.pages.length} given`);
    if (s.longContext !== undefined && s.pages[pages - 1] === -1)
      throw new StepError(`sequence ${i}: its last page was marked moved to the long-context store`);
    for (const p of s.pages.slice(0, pages)) {
      // pages moved to the long-context store leave the row: the CPU attends them
      if (p === -1 && s.longContext !== undefined) continue;
      if (!Number.isInteger(p) || p < 0 || p >= lim.numPages)
        throw new StepError(`sequence ${i}: page ${p} is outside the pool [0, ${lim.numPages})`);
      indices.push(p);
    }
    indptr[i + 1] = indices.length;
    lastPageLen[i] = len - (pages - 1) * lim.pageSize;
  });
  return { qoLens: seqs.map((s) => s.tokens.length), indptr, indices: Int32Array.from(indices), lastPageLen };
}

/** Draws a token for each row with the `sample` op from `logits` [b, vocab] on the device. */
export async function sampleLogitRows(
  backend: Backend,
  logits: Tensor,
  rows: readonly DeviceSampleRow[],
): Promise<Int32Array> {
  const [b, vocab] = logits.shape as [number, number];
  for (const r of rows)
    if (!Number.isInteger(r.row) || r.row < 0 || r.row >= b)
      throw new StepError(`sample row ${r.row} outside the last step's ${b} sequences`);
  const temps: Tensor[] = [];
  const alloc = (dtype: 'i32' | 'u32' | 'f32', shape: number[], label: string) => {
    const t = backend.alloc({ dtype, shape }, label, 'activations');
    temps.push(t);
    return t;
  };
  try {
    let source = logits;
    if (rows.length !== b || rows.some((r, i) => r.row !== i)) {
      // gather the rows to sample (the embedding op is a row gather)
      const ids = alloc('i32', [rows.length], 'sample.rows');
      backend.write(
        ids,
        Int32Array.from(rows, (r) => r.row),
      );
      source = alloc('f32', [rows.length, vocab], 'sample.logits');
      backend.run('embedding', {}, [logits, ids], [source]);
    }
    const params = alloc('u32', [rows.length, 8], 'sample.params');
    backend.write(params, packSampleParams(rows));
    const out = alloc('i32', [rows.length], 'sample.tokens');
    backend.run('sample', {}, [source, params], [out]);
    return (await backend.read(out)) as Int32Array;
  } finally {
    for (const t of temps) backend.free(t);
  }
}

/** A step's token ids and positions in row order, and each sequence's last row; ids outside the vocabulary are refused. */
export function stepTokens(
  batch: ForwardBatch,
  n: number,
  vocabSize: number,
): { tokens: Int32Array; positions: Int32Array; last: Int32Array } {
  const tokens = new Int32Array(n);
  const positions = new Int32Array(n);
  const last = new Int32Array(batch.seqs.length);
  let t = 0;
  batch.seqs.forEach((s, i) => {
    s.tokens.forEach((tok, j) => {
      if (!Number.isInteger(tok) || tok < 0 || tok >= vocabSize)
        throw new StepError(`sequence ${i}: token ${tok} is outside the vocabulary [0, ${vocabSize})`);
      tokens[t] = tok;
      positions[t++] = s.start + j;
    });
    last[i] = t - 1;
  });
  return { tokens, positions, last };
}

/**
 * Checks a resident decode step's arguments (`ModelRunner.submitDecode`): row i samples sequence
 * i; `tokens` null continues from the ids the last resident step drew, which must have been a
 * step of the same batch (`residentBatch`); given tokens lie in the vocabulary.
 */
export function checkResidentStep(
  b: number,
  tokens: Int32Array | null,
  rows: readonly DeviceSampleRow[],
  residentBatch: number,
  vocabSize: number,
): void {
  if (rows.length !== b || rows.some((r, i) => r.row !== i))
    throw new StepError('submitDecode samples every sequence of the step, row i for sequence i');
  if (tokens === null && residentBatch !== b)
    throw new StepError(`no device-drawn tokens of a batch of ${b} to continue from`);
  if (tokens === null) return;
  if (tokens.length !== b) throw new StepError(`${tokens.length} input tokens for ${b} sequences`);
  for (const [i, t] of tokens.entries())
    if (!Number.isInteger(t) || t < 0 || t >= vocabSize)
      throw new StepError(`sequence ${i}: token ${t} is outside the vocabulary [0, ${vocabSize})`);
}
