/**
 * A model runner that computes nothing and counts what a Llama runner on WebGPU would do with each
 * step (step-padding.ts's `stepShape`, the runner's bucket sets): replay a recorded stream, record
 * one on the spot, or run unrecorded. The engine drives it as it drives the real runner, so the
 * step shapes of a serving configuration (8B-sized batches included) are counted on any machine in
 * seconds. Recording here follows `LlamaRunner`: decode streams per batch bucket kept for good, mixed
 * streams per row bucket kept for good, single-sequence prefill streams per row bucket least
 * recently used out past `prefillCapacity`.
 */
import type { DecodeSeq, DeviceSampleRow, ForwardBatch, ModelRunner } from '../src/engine/model-runner.js';
import {
  MIN_PREFILL_BUCKET,
  defaultDecodeBatchBuckets,
  defaultMixedRowBuckets,
  mixedBucketRows,
  normalizeRowBuckets,
  bucketKey,
  mixedLogitRows,
  stepShape,
} from '../src/models/llama/step-padding.js';

export interface ShapeCounts {
  steps: number;
  replayed: number;
  recorded: number;
  unrecorded: number;
  /** Steps by kind and rows (the rows the step ran in, pad rows included). */
  byRows: Map<string, number>;
  /** Streams recorded on the spot, by kind. */
  recordedByKind: Map<string, number>;
}

export const emptyCounts = (): ShapeCounts => ({
  steps: 0,
  replayed: 0,
  recorded: 0,
  unrecorded: 0,
  byRows: new Map(),
  recordedByKind: new Map(),
});

export class StepShapeRunner implements ModelRunner {
  readonly vocabSize = 8;
  readonly mixedRowBuckets: readonly number[];
  readonly decodeBatchBuckets: readonly number[];
  counts = emptyCounts();
  private readonly decode = new Set<number>();
  private readonly mixed = new Set<number>();
  /** In recency order, least recently used first. */
  private readonly prefill: number[] = [];

  constructor(
    readonly maxTokens: number,
    readonly maxSeqs: number,
    readonly maxContext: number,
    readonly pageSize: number,
    readonly numPages: number,
    private readonly prefillCapacity = 3,
  ) {
    this.mixedRowBuckets = normalizeRowBuckets(defaultMixedRowBuckets(maxTokens), maxTokens);
    this.decodeBatchBuckets = defaultDecodeBatchBuckets(maxSeqs);
  }

  /** What `LlamaRunner.warmUp` leaves recorded: every decode batch bucket, every mixed bucket, the last prefill buckets it walked. */
  warmAll(): void {
    for (const b of this.decodeBatchBuckets) this.decode.add(b);
    for (const r of this.mixedRowBuckets) if (r > 2) this.mixed.add(r);
    for (let n = MIN_PREFILL_BUCKET; n < this.maxTokens; n *= 2) this.touchPrefill(n);
    this.touchPrefill(this.maxTokens);
  }

  async forward(batch: ForwardBatch): Promise<Float32Array> {
    const n = batch.seqs.reduce((a, s) => a + s.tokens.length, 0);
    const b = batch.seqs.length;
    const shape = stepShape(n, b, {
      recordable: true,
      recordDecode: true,
      prefillCapacity: this.prefillCapacity,
      mixedCapacity: this.mixedRowBuckets.length,
      mixedRowBuckets: this.mixedRowBuckets,
      maxTokens: this.maxTokens,
      maxSeqs: this.maxSeqs,
      decodeBatchBuckets: this.decodeBatchBuckets,
      recorded: (kind, key) =>
        kind === 'prefill'
          ? this.prefill.includes(key)
          : [...this.mixed].some((r) => bucketKey(r, mixedLogitRows(r, this.maxSeqs)) === key),
    });
    let known = false;
    if (shape.kind === 'decode') known = this.decode.has(shape.rows) || !this.decode.add(shape.rows);
    else if (shape.kind === 'mixed') known = this.mixed.has(shape.rows) || !this.mixed.add(shape.rows);
    else if (shape.kind === 'prefill') known = this.touchPrefill(shape.rows);
    this.count(shape.kind, shape.rows, shape.kind === 'transient' ? 'unrecorded' : known ? 'replayed' : 'recorded');
    return new Float32Array(b * this.vocabSize);
  }

  async sampleOnDevice(rows: readonly DeviceSampleRow[]): Promise<Int32Array> {
    return new Int32Array(rows.length);
  }

  async submitDecode(seqs: readonly DecodeSeq[], _tokens: Int32Array | null, rows: readonly DeviceSampleRow[]) {
    const bucket = mixedBucketRows(seqs.length, this.decodeBatchBuckets);
    const known = this.decode.has(bucket);
    this.decode.add(bucket);
    this.count('decode', bucket, known ? 'replayed' : 'recorded');
    return new Int32Array(rows.length);
  }

  private count(kind: string, rows: number, how: 'replayed' | 'recorded' | 'unrecorded'): void {
    this.counts.steps++;
    this.counts[how]++;
    if (how === 'recorded') this.counts.recordedByKind.set(kind, (this.counts.recordedByKind.get(kind) ?? 0) + 1);
    const key = `${kind} ${rows}`;
    this.counts.byRows.set(key, (this.counts.byRows.get(key) ?? 0) + 1);
  }

  /** Marks prefill bucket `rows` used; whether it was recorded before (else it is now, evicting past capacity). */
  private touchPrefill(rows: number): boolean {
    const i = this.prefill.indexOf(rows);
    if (i >= 0) this.prefill.splice(i, 1);
    else while (this.prefill.length >= this.prefillCapacity) this.prefill.shift();
    this.prefill.push(rows);
    return i >= 0;
  }
}
