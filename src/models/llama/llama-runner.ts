/**
 * Runs a Llama-family checkpoint on a backend for the serving engine (`ModelRunner`): the decoder
 * is compiled once (`graph.ts`) for every step shape up to `maxTokens`/`maxSeqs`; each step plans
 * the attention engine over the sequences' KV pages and runs the compiled function. On WebGPU a
 * pure-decode step of a batch size seen before replays a recorded dispatch stream instead: the
 * inputs, page tables and schedule are rewritten, and one submit runs every kernel. A
 * single-sequence prefill runs padded to a bucket of rows (step-padding.ts) and replays that
 * bucket's recorded stream, kept for the few most recently used buckets; a step of several
 * sequences (prefill chunks beside decodes) likewise, per bucket of rows.
 *
 * Loading and compiling: runner-load.ts; recorded decode streams and their buffers:
 * decode-buckets.ts; recorded prefill and mixed steps: prefill-buckets.ts; steps run unrecorded:
 * transient-step.ts; the attention host functions: step-host.ts; step inputs: step-tensors.ts;
 * adapter slots per row: adapter-slots.ts.
 *
 * @example
 * const runner = await LlamaRunner.load(await openLlamaModel('models/builtin'), { backend });
 * const logits = await runner.forward({ seqs: [{ tokens: [0, 477, 504], start: 0, pages: [0] }] });
 */
import type { Backend, RecordedStream, Tensor } from '../../backends/backend.js';
import type { Executable } from '../../compiler/executable.js';
import type { LlamaConfig } from './llama-config.js';
import type { TensorSource } from '../../io/tensor-source.js';
import type {
  DecodeSeq,
  DeviceSampleRow,
  ForwardBatch,
  ForwardOptions,
  ModelRunner,
  StepCosts,
} from '../../engine/model-runner.js';
import { packSampleParams } from '../../ops/sample.js';
import { checkResidentStep, sampleLogitRows, StepError, stepRows, stepTokens } from './step-rows.js';
import type { PagedKvCache, StepRows } from './kv-cache.js';
import { storedBytes } from '../../tensor/dtype.js';
import type { DeviceAdapterStacks } from './adapter-stacks-device.js';
import type { AdapterRegistry } from '../../lora/adapter-registry.js';
import { acquireAdapterRows } from './adapter-slots.js';
import { DecodeBuckets } from './decode-buckets.js';
import { DEFAULT_PREFILL_BUCKETS, PrefillBuckets } from './prefill-buckets.js';
import { defaultMixedRowBuckets, mixedBucketRows, normalizeRowBuckets, padRows, stepShape } from './step-padding.js';
import { type LlamaRunnerOptions, type LoadedLlama, loadLlama } from './runner-load.js';
import { StepHost } from './step-host.js';
import type { LlamaLongContext } from './long-context.js';
import { type StepTensors, stepArgs, writeStepInputs } from './step-tensors.js';
import { TransientStepper } from './transient-step.js';
import { type WarmUpReport, warmUpSteps } from './warm-up.js';

export { StepError } from './step-rows.js';
export type { LlamaRunnerOptions } from './runner-load.js';

export interface LlamaForwardOptions extends ForwardOptions {
  /**
   * Run the step unrecorded in this many rows, the real ones first (tests compare padded and
   * unpadded steps). `record: false` without it runs the step in exactly its rows.
   */
  padTo?: number;
}

export class LlamaRunner implements ModelRunner {
  readonly vocabSize: number;
  readonly maxContext: number;
  readonly pageSize: number;
  readonly numPages: number;
  readonly maxTokens: number;
  readonly maxSeqs: number;
  readonly backend: Backend;
  readonly config: LlamaConfig;
  readonly exe: Executable;
  readonly kv: PagedKvCache;
  /** Weights kept quantized on the device, by format (e.g. { q4_k: 7, q8_0: 14 }). */
  readonly quantizedWeights: Readonly<Record<string, number>>;
  private readonly weights: Tensor[];
  /** The attention host functions and the scratch of the step being built. */
  private readonly host: StepHost;
  /** Runs the steps no recorded stream serves; its VM's storage follows the step's shape. */
  private readonly transient: TransientStepper;
  /** Recorded decode steps by batch size, their activations in one shared storage, kept for the runner's whole life. */
  private readonly decodeBuckets: DecodeBuckets;
  private readonly recordDecode: boolean;
  /** Recorded single-sequence prefill steps by rows, least recently used evicted first. */
  private readonly prefillBuckets: PrefillBuckets;
  /** Recorded mixed steps by row bucket, least recently used evicted first. */
  private readonly mixedBuckets: PrefillBuckets;
  /** Batch sizes of the recorded decode steps; a decode of b sequences replays the smallest that holds it. */
  readonly decodeBatchBuckets: readonly number[];
  /** Row buckets unrecorded steps are padded to (step-padding.ts); null: each step in its own rows. */
  readonly mixedRowBuckets: readonly number[] | null;
  /** Rows the last `forward` ran in (its tokens, or the bucket it was padded to). */
  lastStepRows = 0;
  /** Logits of the last forward, still on the device (for `sampleOnDevice`). */
  private lastLogits: Tensor | null = null;
  /** Whether `lastLogits` is ours to free (the VM hands returned tensors to the caller; recorded ones live with their stream). */
  private lastLogitsOwned = false;
  /**
   * Steps run; decode steps (host-driven or resident) that replayed a stream or recorded one; prefill and mixed steps (several
   * sequences, some prefilling) that replayed a bucket or recorded one; steps run unrecorded; recordings out of memory. Tests read them.
   */
  readonly stats = {
    ...{ steps: 0, replays: 0, compiles: 1, deviceSamples: 0, residentSteps: 0, decodeRecords: 0, transientSteps: 0 },
    ...{ prefillReplays: 0, prefillRecords: 0, mixedReplays: 0, mixedRecords: 0, recordingsGivenUp: 0 },
  };
  /** GPU-resident decode steps (see `ModelRunner.submitDecode`); absent where decode steps are not recorded (the CPU backend). */
  readonly submitDecode: ModelRunner['submitDecode'];
  /** Batch size of the last `submitDecode`, whose drawn ids sit in that bucket's token input. */
  private residentBatch = 0;
  /** Long-context mode: KV pages moved to CPU memory and attended there (long-context.ts). */
  readonly longContext: LlamaLongContext;
  /** The adapter stacks and their slot registry; null when the runner serves no adapters. */
  private readonly lora: DeviceAdapterStacks | null;

  private constructor(p: LoadedLlama) {
    this.backend = p.backend;
    this.config = p.config;
    this.exe = p.exe;
    this.weights = p.weights;
    this.kv = p.kv;
    this.longContext = p.kv.longContext;
    this.lora = p.lora;
    this.quantizedWeights = p.quantizedWeights;
    this.vocabSize = p.config.vocabSize;
    this.maxContext = p.config.maxPositionEmbeddings;
    this.pageSize = p.kv.o.pageSize;
    this.numPages = p.kv.o.numPages;
    this.maxTokens = p.maxTokens;
    this.maxSeqs = p.maxSeqs;
    this.recordDecode = p.recordDecode;
    this.decodeBatchBuckets = p.decodeBatchBuckets;
    // padding pays where shapes cost compiles and encodings (WebGPU); elsewhere pad rows are only work
    this.mixedRowBuckets =
      !p.recordDecode || p.mixedRowBuckets === 'off'
        ? null
        : normalizeRowBuckets(p.mixedRowBuckets ?? defaultMixedRowBuckets(p.maxTokens), p.maxTokens);
    // the engine takes the resident loop whenever a runner offers it: offer it only where it runs
    this.submitDecode = p.recordDecode ? (seqs, tokens, rows) => this.residentStep(seqs, tokens, rows) : undefined;
    this.host = new StepHost(p.kv);
    const args = (inputs: StepTensors) => stepArgs(inputs, this.weights, this.lora?.params() ?? null);
    const { numHeads } = p.config;
    this.transient = new TransientStepper(p.backend, p.exe, this.host, p.kv, numHeads, p.lora !== null, args);
    this.decodeBuckets = new DecodeBuckets(p.backend, p.exe, this.host, numHeads, p.lora !== null, args, p.maxSeqs);
    const buckets = (capacity: number, shared?: Record<string, number>) =>
      new PrefillBuckets(p.backend, p.exe, this.host, numHeads, p.lora !== null, args, capacity, shared);
    this.prefillBuckets = buckets(p.recordDecode ? (p.prefillBuckets ?? DEFAULT_PREFILL_BUCKETS) : 0);
    // mixed buckets are kept for good, so they share one storage sized for the largest step
    const mixed = this.mixedRowBuckets ? (p.mixedBuckets ?? this.mixedRowBuckets.length) : 0;
    this.mixedBuckets = buckets(mixed, { n: p.maxTokens, b: p.maxSeqs });
  }

  stepCosts?: StepCosts;

  /** Steps through every prefill and mixed row bucket before serving (warm-up.ts); nothing to do where steps are not recorded. */
  async warmUp(o: { softwareToo?: boolean } = {}): Promise<WarmUpReport> {
    if (!this.recordDecode || (this.backend.caps.software && !o.softwareToo)) return { steps: 0, ms: 0 };
    const report = await warmUpSteps(this, () => this.backend.flush());
    this.stepCosts = report.costs;
    return report;
  }

  static async load(
    model: { readonly config: LlamaConfig; readonly weights: TensorSource },
    o: LlamaRunnerOptions,
  ): Promise<LlamaRunner> {
    return new LlamaRunner(await loadLlama(model, o));
  }

  /** The adapters this runner serves; absent when it was loaded without `lora`. */
  get adapters(): AdapterRegistry | undefined {
    return this.lora?.registry;
  }

  async forward(batch: ForwardBatch, options: LlamaForwardOptions = {}): Promise<Float32Array> {
    // the step's page-table rows (after appending), validated against the pool
    const rows = stepRows(batch, this);
    const n = rows.qoLens.reduce((a, b) => a + b, 0);
    const b = rows.qoLens.length;
    const { tokens, positions, last } = stepTokens(batch, n, this.vocabSize);
    this.stats.steps++;
    this.kv.longContext.beginStep(batch);
    const shape = stepShape(n, b, {
      // a recorded stream cannot wait for the CPU part of long-context attention
      recordable: options.record !== false && options.padTo === undefined && !this.kv.longContext.active,
      recordDecode: this.recordDecode,
      prefillCapacity: this.prefillBuckets.capacity,
      mixedCapacity: this.mixedBuckets.capacity,
      mixedRowBuckets: this.mixedRowBuckets,
      maxTokens: this.maxTokens,
      maxSeqs: this.maxSeqs,
      recorded: (kind, key) => (kind === 'prefill' ? this.prefillBuckets : this.mixedBuckets).peek(key) !== undefined,
      decodeBatchBuckets: this.decodeBatchBuckets,
      ...(options.padTo === undefined ? {} : { padTo: options.padTo }),
    });
    const { kind, rows: stepRowCount, logitRows } = shape;
    const adapters = acquireAdapterRows(
      this.lora,
      batch.seqs,
      batch.seqs.map((s) => s.tokens.length),
    );
    this.lastStepRows = stepRowCount;
    // pad rows: token 0 at position 0 (valid inputs for the row-wise ops), no adapter
    const padded = [padRows(tokens, stepRowCount, 0), padRows(positions, stepRowCount, 0)] as const;
    const adapterRows = adapters ? padRows(adapters.rows, stepRowCount, -1) : undefined;
    let logits: Tensor;
    let owned = true;
    try {
      if (kind === 'decode') {
        logits = this.decodeStep(stepRowCount, rows, ...padded, padRows(last, logitRows, 0), adapterRows);
        owned = false;
      } else {
        const recorded =
          kind === 'transient'
            ? null
            : this.bucketStep(kind, stepRowCount, rows, ...padded, padRows(last, logitRows, 0), adapterRows);
        // a bucket that could not be recorded (out of memory) leaves the step to run unrecorded
        owned = recorded === null;
        if (owned) this.stats.transientSteps++;
        logits = recorded ?? (await this.transient.run(stepRowCount, b, rows, ...padded, last, adapterRows));
      }
    } finally {
      adapters?.release();
    }
    this.keepLogits(logits, owned);
    if (options.readLogits === false) return new Float32Array(0);
    const read = (await this.backend.read(logits)) as Float32Array;
    return logitRows === b ? read : read.subarray(0, b * this.vocabSize);
  }

  /** Draws tokens with the `sample` op from the last forward's logits; only token ids cross to the host. */
  async sampleOnDevice(rows: readonly DeviceSampleRow[]): Promise<Int32Array> {
    if (!this.lastLogits) throw new StepError('sampleOnDevice before any forward');
    const ids = await sampleLogitRows(this.backend, this.lastLogits, rows);
    this.stats.deviceSamples += rows.length;
    return ids;
  }

  /** Holds a step's logits for `sampleOnDevice`, freeing the previous ones where they were ours. */
  private keepLogits(logits: Tensor, owned: boolean): void {
    if (this.lastLogits && this.lastLogitsOwned) this.backend.free(this.lastLogits);
    this.lastLogits = logits;
    this.lastLogitsOwned = owned;
  }

  /** A decode step in `b` rows (its batch bucket, inputs padded): replays (or records, the first time) that bucket's stream. */
  private decodeStep(
    b: number,
    rows: StepRows,
    tokens: Int32Array,
    positions: Int32Array,
    last: Int32Array,
    adapterRows: Int32Array | undefined,
  ): Tensor {
    const known = this.decodeBuckets.get(b);
    const inputs = this.decodeBuckets.inputsFor(b);
    writeStepInputs(this.backend, inputs, tokens, positions, last, adapterRows);
    this.kv.plan(rows);
    const bucket = known ?? this.decodeBuckets.record(b, inputs);
    this.stats[known ? 'replays' : 'decodeRecords']++;
    bucket.stream.replay();
    this.residentBatch = 0; // the host wrote this step's tokens: device-drawn ids no longer chain
    return bucket.logits;
  }

  /**
   * A step in `stepRows` rows and `last.length` logits rows that replays (or records, the first
   * time) the stream of its bucket: single-sequence prefills in `prefillBuckets`, steps of several
   * sequences in `mixedBuckets`, one per row bucket (`mixedLogitRows`). Null where the recording ran out of
   * memory.
   */
  private bucketStep(
    kind: 'prefill' | 'mixed',
    stepRows: number,
    rows: StepRows,
    tokens: Int32Array,
    positions: Int32Array,
    last: Int32Array,
    adapterRows: Int32Array | undefined,
  ): Tensor | null {
    const buckets = kind === 'prefill' ? this.prefillBuckets : this.mixedBuckets;
    // recording may evict the bucket whose logits the last step left for sampleOnDevice
    if (!buckets.peek(PrefillBuckets.key(stepRows, last.length)) && !this.lastLogitsOwned) this.lastLogits = null;
    const got = buckets.prepare(
      stepRows,
      last.length,
      (inputs) => writeStepInputs(this.backend, inputs, tokens, positions, last, adapterRows),
      () => this.kv.plan(rows),
    );
    if (!got) {
      this.stats.recordingsGivenUp++;
      return null;
    }
    const { bucket, known } = got;
    this.stats[`${kind}${known ? 'Replays' : 'Records'}`]++;
    bucket.stream.replay();
    this.residentBatch = 0; // the host wrote this step's tokens: device-drawn ids no longer chain
    return bucket.logits;
  }

  /** Row and sequence buckets of the recorded mixed steps (least recently used first) and the device bytes each holds. */
  mixedBucketInfo(): { rows: number; seqs: number; bytes: number }[] {
    return this.mixedBuckets.info();
  }

  /** Rows of the recorded prefill buckets (least recently used first) and the device bytes each holds. */
  prefillBucketInfo(): { rows: number; bytes: number }[] {
    return this.prefillBuckets.info().map(({ rows, bytes }) => ({ rows, bytes }));
  }

  /** One GPU-resident decode step (`ModelRunner.submitDecode`, offered only where decode steps are recorded). */
  private async residentStep(
    seqs: readonly DecodeSeq[],
    tokens: Int32Array | null,
    rows: readonly DeviceSampleRow[],
  ): Promise<Int32Array> {
    checkResidentStep(seqs.length, tokens, rows, this.residentBatch, this.vocabSize);
    const rowsOfStep = stepRows({ seqs: seqs.map((s) => ({ tokens: [0], start: s.start, pages: s.pages })) }, this);
    this.kv.longContext.beginStep({ seqs: [] });
    const adapters = acquireAdapterRows(
      this.lora,
      seqs,
      seqs.map(() => 1),
    );
    // pinned until the ids are read back: the step has completed
    try {
      return await this.residentSubmit(seqs, tokens, rows, rowsOfStep, adapters?.rows);
    } finally {
      adapters?.release();
    }
  }

  /** Writes a resident step's inputs and submits it; resolves with the drawn ids once read back. */
  private residentSubmit(
    seqs: readonly DecodeSeq[],
    tokens: Int32Array | null,
    rows: readonly DeviceSampleRow[],
    stepRows: StepRows,
    adapterRows: Int32Array | undefined,
  ): Promise<Int32Array> {
    const b = seqs.length;
    // a bucket of B ≥ b rows: pad rows decode token 0 at position 0 and draw greedily, unread
    const B = mixedBucketRows(b, this.decodeBatchBuckets);
    const known = this.decodeBuckets.get(B);
    const starts = Int32Array.from(seqs, (s) => s.start);
    const inputs = this.decodeBuckets.writeResidentInputs(B, starts, tokens, adapterRows);
    this.kv.plan(stepRows);
    const bucket = known ?? this.decodeBuckets.record(B, inputs);
    const resident = this.decodeBuckets.residentOf(bucket, B);
    this.backend.write(resident.params, packSampleParams(rows, B));
    const slot = this.decodeBuckets.stagingSlot(resident, B);
    slot.busy = true;
    bucket.stream.replayWith([resident.sample], [{ from: inputs.tokens, to: slot.readback }]);
    this.keepLogits(bucket.logits, false);
    this.residentBatch = b;
    this.stats.steps++;
    this.stats[known ? 'replays' : 'decodeRecords']++;
    this.stats.residentSteps++;
    this.stats.deviceSamples += b;
    return (async () => {
      try {
        return (await slot.readback.read('i32', b)) as Int32Array;
      } finally {
        slot.busy = false;
      }
    })();
  }

  /**
   * GPU time of one decode step of batch `b` (ms): its recorded stream replayed `times` times in one submit, host
   * clock from submit to completion. Benchmarks divide it by the wall time per step to tell how busy the loop keeps the GPU.
   */
  timeDecodeReplay(b: number, times: number): Promise<number> {
    return this.decodeBuckets.timeReplay(mixedBucketRows(b, this.decodeBatchBuckets), times);
  }

  /** Bytes the weights take on the device (quantized ones as stored); the load log and tests report it. */
  weightBytes(): number {
    return storedBytes(this.weights);
  }

  /** The recorded decode stream that serves batch `b` (its bucket's), if one was recorded (tests count its dispatches). */
  decodeStream(b: number): RecordedStream | undefined {
    return this.decodeBuckets.get(mixedBucketRows(b, this.decodeBatchBuckets))?.stream;
  }

  destroy(): void {
    this.decodeBuckets.destroyStreams();
    this.prefillBuckets.destroy();
    this.mixedBuckets.destroy();
    if (this.lastLogits && this.lastLogitsOwned) this.backend.free(this.lastLogits);
    this.transient.release();
    this.decodeBuckets.releaseVm();
    this.kv.destroy();
    for (const t of this.weights) this.backend.free(t);
    this.lora?.destroy();
    this.decodeBuckets.freeBuffers();
  }
}
