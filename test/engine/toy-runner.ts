/**
 * A small deterministic ModelRunner for engine and server tests, standing in for the real model.
 *
 * Its "KV cache" stores the token ids themselves, page by page. The logits after a position are a
 * random bigram table row of the last token plus a term hashed from every (token, position) the
 * sequence's pages hold up to it. So output depends on exactly what the engine put in the pages:
 * a page handed to the wrong sequence, freed too early, reused stale from the prefix cache or
 * skipped in a chunk changes the tokens. It also rejects batches that no correct engine sends:
 * pages out of range or too few, reads of never-written positions, and writes into a page another
 * sequence of the same batch reads.
 */
import type { ForwardBatch, ModelRunner } from '../../src/engine/model-runner.js';
import { pcgHash, Rng, uniformAt } from '../../src/util/rng.js';

export interface ToyRunnerOptions {
  vocabSize: number;
  maxContext?: number;
  pageSize?: number;
  numPages?: number;
  seed?: number;
  /** Added to these tokens' logits everywhere (e.g. a large negative value keeps EOS rare). */
  tokenBias?: Record<number, number>;
  /** Simulated GPU time per forward, in ms (for load tests). */
  stepDelayMs?: number;
  /** Simulated GPU time per token of a forward, in ms, added to `stepDelayMs` (steps that cost by their size). */
  tokenDelayMs?: number;
  /** Whether to offer copyPages (copy-on-write of a shared partial page). */
  copyPages?: boolean;
}

export class ToyRunner implements ModelRunner {
  readonly vocabSize: number;
  readonly maxContext: number;
  readonly pageSize: number;
  readonly numPages: number;
  readonly copyPages?: (pairs: [number, number][]) => Promise<void>;
  /** Largest number of sequences and of tokens seen in one forward. */
  maxBatchSeqs = 0;
  maxBatchTokens = 0;
  forwards = 0;
  /** Each forward's sequences' token counts, in order. */
  readonly forwardTokens: number[][] = [];
  private readonly kv: Int32Array;
  private readonly bigram: Float32Array;
  private readonly seed: number;

  constructor(private readonly options: ToyRunnerOptions) {
    this.vocabSize = options.vocabSize;
    this.maxContext = options.maxContext ?? 1024;
    this.pageSize = options.pageSize ?? 4;
    this.numPages = options.numPages ?? 512;
    this.seed = options.seed ?? 1234;
    this.kv = new Int32Array(this.numPages * this.pageSize).fill(-1);
    const rng = new Rng(this.seed);
    const v = this.vocabSize;
    this.bigram = new Float32Array(v * v);
    for (let i = 0; i < v * v; i++) this.bigram[i] = rng.normal() * 3;
    for (const [t, bias] of Object.entries(options.tokenBias ?? {}))
      for (let r = 0; r < v; r++) this.bigram[r * v + Number(t)]! += bias;
    if (options.copyPages !== false) {
      this.copyPages = async (pairs) => {
        for (const [src, dst] of pairs)
          this.kv.copyWithin(dst * this.pageSize, src * this.pageSize, (src + 1) * this.pageSize);
      };
    }
  }

  async forward(batch: ForwardBatch): Promise<Float32Array> {
    this.forwards++;
    this.maxBatchSeqs = Math.max(this.maxBatchSeqs, batch.seqs.length);
    this.maxBatchTokens = Math.max(
      this.maxBatchTokens,
      batch.seqs.reduce((n, s) => n + s.tokens.length, 0),
    );
    this.checkBatch(batch);
    this.forwardTokens.push(batch.seqs.map((s) => s.tokens.length));
    const tokens = batch.seqs.reduce((n, s) => n + s.tokens.length, 0);
    const delay = (this.options.stepDelayMs ?? 0) + tokens * (this.options.tokenDelayMs ?? 0);
    if (delay > 0) await new Promise((r) => setTimeout(r, delay));
    const v = this.vocabSize;
    const out = new Float32Array(batch.seqs.length * v);
    batch.seqs.forEach((seq, i) => {
      seq.tokens.forEach((t, j) => (this.kv[this.slot(seq.pages, seq.start + j)] = t));
      const last = seq.start + seq.tokens.length - 1;
      let h = this.seed;
      for (let pos = 0; pos <= last; pos++) {
        const t = this.kv[this.slot(seq.pages, pos)]!;
        if (t < 0) throw new Error(`toy runner: position ${pos} read before it was written`);
        h = pcgHash((h ^ Math.imul(t + 1, 0x9e3779b1) ^ (pos << 20)) >>> 0);
      }
      const row = this.bigram.subarray(
        this.kv[this.slot(seq.pages, last)]! * v,
        (this.kv[this.slot(seq.pages, last)]! + 1) * v,
      );
      for (let k = 0; k < v; k++) out[i * v + k] = row[k]! + (uniformAt(h, k, 0) - 0.5) * 4;
    });
    return out;
  }

  private slot(pages: number[], pos: number): number {
    return pages[Math.floor(pos / this.pageSize)]! * this.pageSize + (pos % this.pageSize);
  }

  private checkBatch(batch: ForwardBatch): void {
    const readers = new Map<number, number>();
    batch.seqs.forEach((seq, i) => {
      if (seq.tokens.length === 0) throw new Error('toy runner: empty sequence in batch');
      const end = seq.start + seq.tokens.length;
      if (end > this.maxContext) throw new Error(`toy runner: position ${end - 1} beyond context ${this.maxContext}`);
      if (seq.pages.length * this.pageSize < end)
        throw new Error(`toy runner: ${seq.pages.length} pages cannot hold ${end} positions`);
      for (const p of seq.pages) {
        if (!Number.isInteger(p) || p < 0 || p >= this.numPages)
          throw new Error(`toy runner: page id ${p} out of range`);
        readers.set(p, (readers.get(p) ?? 0) + 1);
      }
      for (const t of seq.tokens)
        if (!Number.isInteger(t) || t < 0 || t >= this.vocabSize)
          throw new Error(`toy runner: token ${t} out of range (sequence ${i})`);
    });
    for (const seq of batch.seqs) {
      const first = Math.floor(seq.start / this.pageSize);
      const last = Math.floor((seq.start + seq.tokens.length - 1) / this.pageSize);
      for (let p = first; p <= last; p++) {
        if (readers.get(seq.pages[p]!)! > 1)
          throw new Error(
            `toy runner: page ${seq.pages[p]} is written by one sequence and read by another in the same batch`,
          );
      }
    }
  }
}
