/**
 * Runs a Llama-family checkpoint on a backend for the serving engine (`ModelRunner`): the decoder
 * is compiled once (`graph.ts`) for every step shape up to `maxTokens`/`maxSeqs`; each step plans
 * the attention engine over the sequences' KV pages and runs the compiled function. On WebGPU a
 * pure-decode step of a batch size seen before replays a recorded dispatch stream instead: the
 * inputs, page tables and schedule are rewritten, and one submit runs every kernel.
 *
 * @example
 * const runner = await LlamaRunner.load(await openLlamaModel('models/builtin'), { backend });
 * const logits = await runner.forward({ seqs: [{ tokens: [0, 477, 504], start: 0, pages: [0] }] });
 */
import {
  type Backend,
  type Readback,
  type RecordedStream,
  type Tensor,
  recordingBackend,
} from '../../backends/backend.js';
import { compile } from '../../compiler/compile.js';
import type { Executable } from '../../compiler/executable.js';
import { type HostFunction, VirtualMachine } from '../../compiler/vm.js';
import type { LlamaConfig } from './llama-config.js';
import type { TensorSource } from '../../io/tensor-source.js';
import type {
  DecodeSeq,
  DeviceSampleRow,
  ForwardBatch,
  ForwardOptions,
  ModelRunner,
} from '../../engine/model-runner.js';
import { packSampleParams } from '../../ops/sample.js';
import { sampleLogitRows, StepError, stepRows } from './step-rows.js';
import type { RunnerOptions } from '../family.js';
import { llamaModule } from './graph.js';
import { HeldScratch, PagedKvCache, type StepRows } from './kv-cache.js';
import { KV_ATTENTION_QKV } from '../../compiler/passes/fold-kv-projection.js';
import type { LinearGroupAttrs } from '../../ops/linear-group.js';
import { uploadWeights } from './weights.js';
import { bytesPerElement, numel } from '../../tensor/dtype.js';
import { quantizedWeightPlan } from './quantized-weights.js';
import type { LoraGraphOptions } from './adapter-graph.js';
import { DeviceAdapterStacks } from './adapter-stacks-device.js';
import type { AdapterRegistry } from '../../lora/adapter-registry.js';

export { StepError } from './step-rows.js';

export interface LlamaRunnerOptions extends RunnerOptions {
  /** Replay recorded dispatch streams for decode steps (default true on WebGPU). */
  readonly recordDecode?: boolean;
  /** CTAs of the attention dispatches (default: BatchAttention's; benchmarks compare). */
  readonly attentionGrid?: number;
  /**
   * Keep projection matrices stored as Q8_0/Q4_0/Q4_K/Q6_K quantized on the device (default true);
   * false dequantizes them at load (the reference path the quantized one is checked against).
   */
  readonly keepQuantized?: boolean;
  /** Serve LoRA adapters: the graph gains the adapter input and stacks of `slots` adapters up to rank `rmax`. */
  readonly lora?: LoraGraphOptions;
}

interface StepTensors {
  tokens: Tensor;
  positions: Tensor;
  last: Tensor;
  /** Each row's adapter slot (−1: none); present only in a graph that serves adapters. */
  adapter?: Tensor;
}

/**
 * Everything a recorded decode stream of one batch size binds: created once, with the stream, and
 * freed only with the runner, so no step of another shape can release a buffer the stream uses.
 */
interface DecodeBucket {
  stream: RecordedStream;
  inputs: StepTensors;
  lse: Tensor;
  /** The attention's Q (and, where K/V cannot go straight into the pages, K and V) of the stream. */
  scratch: HeldScratch;
  logits: Tensor;
  /** GPU-resident decode (`submitDecode`): sampling params, the sample stream (writes the drawn ids into `inputs.tokens`) and staging buffers the ids are read back through. */
  resident?: ResidentDecode;
}

interface ResidentDecode {
  params: Tensor;
  sample: RecordedStream;
  /** A ring of host-readable buffers, one per step in flight; busy while its step's ids are unread. */
  staging: { readback: Readback; busy: boolean }[];
}

export class LlamaRunner implements ModelRunner {
  readonly vocabSize: number;
  readonly maxContext: number;
  readonly pageSize: number;
  readonly numPages: number;
  readonly maxTokens: number;
  readonly maxSeqs: number;
  /** Runs prefill and mixed steps; its storage follows the step's shape (freed when shapes change). */
  private readonly vm: VirtualMachine;
  /** Runs decode steps that are recorded: stable storage, since a stream keeps pointing at it. */
  private readonly decodeVm: VirtualMachine;
  /** Recorded decode steps by batch size; each owns its buffers for the runner's whole life. */
  private readonly decodeBuckets = new Map<number, DecodeBucket>();
  /** Attention log-sum-exp scratch of the step being built (written by the kernel, unused after). */
  private stepLse: Tensor | null = null;
  /** Projection scratch of the step being built (Q, and K/V where they are not stored into the pages directly). */
  private stepScratch: HeldScratch | null = null;
  private readonly recordDecode: boolean;
  /** Logits of the last forward, still on the device (for `sampleOnDevice`). */
  private lastLogits: Tensor | null = null;
  /** Whether `lastLogits` is ours to free (the VM hands returned tensors to the caller; recorded ones live with their stream). */
  private lastLogitsOwned = false;
  /** Steps run, and how many replayed a recorded stream (tests and benches read them). */
  readonly stats = { steps: 0, replays: 0, compiles: 1, deviceSamples: 0, residentSteps: 0 };
  /** GPU-resident decode steps (see `ModelRunner.submitDecode`); absent where decode steps are not recorded (the CPU backend). */
  readonly submitDecode: ModelRunner['submitDecode'];
  /** Batch size of the last `submitDecode`, whose drawn ids sit in that bucket's token input. */
  private residentBatch = 0;
  /** The adapter stacks and their slot registry; null when the runner serves no adapters. */
  private readonly lora: DeviceAdapterStacks | null;

  private constructor(
    readonly backend: Backend,
    readonly config: LlamaConfig,
    readonly exe: Executable,
    private readonly weights: Tensor[],
    readonly kv: PagedKvCache,
    o: Required<Pick<LlamaRunnerOptions, 'maxTokens' | 'maxSeqs' | 'recordDecode'>>,
    lora: DeviceAdapterStacks | null = null,
  ) {
    this.lora = lora;
    this.vocabSize = config.vocabSize;
    this.maxContext = config.maxPositionEmbeddings;
    this.pageSize = kv.o.pageSize;
    this.numPages = kv.o.numPages;
    this.maxTokens = o.maxTokens;
    this.maxSeqs = o.maxSeqs;
    this.recordDecode = o.recordDecode;
    // the engine takes the resident loop whenever a runner offers it: offer it only where it runs
    this.submitDecode = o.recordDecode ? (seqs, tokens, rows) => this.residentStep(seqs, tokens, rows) : undefined;
    const kvAttention: HostFunction = (_vm, args, out, attrs) => {
      const [q, k, v] = args as Tensor[];
      if (!this.stepLse || this.stepLse.shape[0] !== q!.shape[0]) throw new StepError('attention ran outside a step');
      this.kv.attend(attrs.layer as number, q!, k!, v!, out, this.stepLse);
    };
    // the compiler folds a layer's Q/K/V projection into this call (fold-kv-projection.ts) so K and V
    // can be stored into the pages by the projection itself
    const kvAttentionQkv: HostFunction = (_vm, args, out, attrs) => {
      const x = args[0] as Tensor;
      if (!this.stepLse || !this.stepScratch || this.stepLse.shape[0] !== x.shape[0])
        throw new StepError('attention ran outside a step');
      const group = attrs.group as LinearGroupAttrs;
      this.kv.projectAndAttend(attrs.layer as number, group, args as Tensor[], this.stepScratch, out, this.stepLse);
    };
    const host = { kv_attention: kvAttention, [KV_ATTENTION_QKV]: kvAttentionQkv };
    this.vm = new VirtualMachine(exe, backend, { host });
    // decode shapes are few (one per batch size ≤ maxSeqs) and small, so keeping them is cheap
    this.decodeVm = new VirtualMachine(exe, backend, { stableStorage: true, host });
  }

  static async load(
    model: { readonly config: LlamaConfig; readonly weights: TensorSource },
    o: LlamaRunnerOptions,
  ): Promise<LlamaRunner> {
    const { backend } = o;
    const cfg = model.config;
    const actDtype = o.actDtype ?? (backend.caps.f16 ? 'f16' : 'f32');
    const stored = model.weights.tensors.get('model.embed_tokens.weight')?.dtype;
    const weightDtype = o.weightDtype ?? (stored === 'f16' || stored === 'bf16' || stored === 'f32' ? stored : 'f16');
    const maxTokens = o.maxTokens ?? 512;
    const maxSeqs = o.maxSeqs ?? 64;
    const pageSize = o.pageSize ?? 16;
    const numPages = o.numPages ?? Math.min(4096, maxSeqs * Math.ceil(cfg.maxPositionEmbeddings / pageSize));
    const quantized = o.keepQuantized === false ? new Map() : quantizedWeightPlan(cfg, model.weights);
    const exe = compile(
      llamaModule(cfg, {
        maxTokens,
        maxSeqs,
        weightDtype,
        actDtype,
        quantized,
        ...(o.lora ? { lora: o.lora } : {}),
      }),
    );
    const weights = await uploadWeights(backend, cfg, model.weights, weightDtype, o.onProgress, undefined, quantized);
    const kv = new PagedKvCache(backend, cfg, {
      numPages,
      pageSize,
      maxTokens,
      maxSeqs,
      dtype: actDtype,
      attentionGrid: o.attentionGrid,
    });
    const recordDecode = o.recordDecode ?? backend.record !== undefined;
    const lora = o.lora ? new DeviceAdapterStacks(backend, cfg, o.lora) : null;
    const runner = new LlamaRunner(backend, cfg, exe, weights, kv, { maxTokens, maxSeqs, recordDecode }, lora);
    const byFormat: Record<string, number> = {};
    for (const a of quantized.values()) byFormat[a.format] = (byFormat[a.format] ?? 0) + 1;
    Object.assign(runner.quantizedWeights, byFormat);
    return runner;
  }

  /** The adapters this runner serves; absent when it was loaded without `lora`. */
  get adapters(): AdapterRegistry | undefined {
    return this.lora?.registry;
  }

  /**
   * Each row's adapter slot for a step whose sequences feed `counts[i]` rows, pinning the slots
   * (uploading adapters not resident) until `release`, called once the step is submitted: a later
   * upload goes through the queue behind it.
   */
  private acquireAdapters(
    seqs: readonly { adapter?: string }[],
    counts: readonly number[],
  ): { rows: Int32Array; release: () => void } | null {
    const named = seqs.flatMap((s) => (s.adapter === undefined ? [] : [s.adapter]));
    if (!this.lora) {
      if (named.length) throw new StepError(`adapter '${named[0]}' requested, but this model serves no adapters`);
      return null;
    }
    const registry = this.lora.registry;
    let slots: Map<string, number>;
    try {
      slots = registry.acquire(named);
    } catch (e) {
      throw new StepError((e as Error).message);
    }
    const rows = new Int32Array(counts.reduce((a, c) => a + c, 0));
    let t = 0;
    seqs.forEach((s, i) => {
      rows.fill(s.adapter === undefined ? -1 : slots.get(s.adapter)!, t, t + counts[i]!);
      t += counts[i]!;
    });
    return { rows, release: () => registry.release(named) };
  }

  async forward(batch: ForwardBatch, options: ForwardOptions = {}): Promise<Float32Array> {
    const rows = this.rows(batch);
    const n = rows.qoLens.reduce((a, b) => a + b, 0);
    const b = rows.qoLens.length;
    const tokens = new Int32Array(n);
    const positions = new Int32Array(n);
    const last = new Int32Array(b);
    let t = 0;
    batch.seqs.forEach((s, i) => {
      s.tokens.forEach((tok, j) => {
        if (!Number.isInteger(tok) || tok < 0 || tok >= this.vocabSize)
          throw new StepError(`sequence ${i}: token ${tok} is outside the vocabulary [0, ${this.vocabSize})`);
        tokens[t] = tok;
        positions[t++] = s.start + j;
      });
      last[i] = t - 1;
    });
    const adapters = this.acquireAdapters(
      batch.seqs,
      batch.seqs.map((s) => s.tokens.length),
    );
    this.stats.steps++;
    const decode = n === b;
    let logits: Tensor;
    try {
      logits =
        decode && this.recordDecode && options.record !== false
          ? this.decodeStep(b, rows, tokens, positions, last, adapters?.rows)
          : await this.transientStep(n, b, rows, tokens, positions, last, adapters?.rows);
    } finally {
      adapters?.release();
    }
    if (this.lastLogits && this.lastLogitsOwned) this.backend.free(this.lastLogits);
    this.lastLogits = logits;
    this.lastLogitsOwned = !decode || !this.recordDecode;
    return options.readLogits === false ? new Float32Array(0) : ((await this.backend.read(logits)) as Float32Array);
  }

  /** Draws tokens with the `sample` op from the last forward's logits; only token ids cross to the host. */
  async sampleOnDevice(rows: readonly DeviceSampleRow[]): Promise<Int32Array> {
    if (!this.lastLogits) throw new StepError('sampleOnDevice before any forward');
    const ids = await sampleLogitRows(this.backend, this.lastLogits, rows);
    this.stats.deviceSamples += rows.length;
    return ids;
  }

  /** The step's page table rows (after appending), validated against the pool. */
  private rows(batch: ForwardBatch): StepRows {
    return stepRows(batch, this);
  }

  /** A decode step: replays (or records, the first time) the stream of batch size `b`. */
  private decodeStep(
    b: number,
    rows: StepRows,
    tokens: Int32Array,
    positions: Int32Array,
    last: Int32Array,
    adapterRows: Int32Array | undefined,
  ): Tensor {
    const known = this.decodeBuckets.get(b);
    const inputs = known?.inputs ?? this.stepTensors(b, b);
    this.writeInputs(inputs, tokens, positions, last, adapterRows);
    this.kv.plan(rows);
    const bucket = known ?? this.recordBucket(b, inputs);
    if (known) this.stats.replays++;
    bucket.stream.replay();
    this.residentBatch = 0; // the host wrote this step's tokens: device-drawn ids no longer chain
    return bucket.logits;
  }

  /** Records the decode stream of batch size `b` (after `kv.plan`, which the recording reads). */
  private recordBucket(b: number, inputs: StepTensors): DecodeBucket {
    const gpu = recordingBackend(this.backend);
    const lse = this.lseTensor(b);
    const scratch = new HeldScratch(this.backend, `decode.b${b}`);
    let logits: Tensor | undefined;
    this.stepLse = lse;
    this.stepScratch = scratch;
    try {
      const stream = gpu.record(() => {
        logits = this.decodeVm.runSync('forward', this.args(inputs)) as Tensor;
      });
      const bucket: DecodeBucket = { stream, inputs, lse, scratch, logits: logits! };
      this.decodeBuckets.set(b, bucket);
      return bucket;
    } finally {
      this.stepLse = null;
      this.stepScratch = null;
    }
  }

  /** One GPU-resident decode step (`ModelRunner.submitDecode`, offered only where decode steps are recorded). */
  private async residentStep(
    seqs: readonly DecodeSeq[],
    tokens: Int32Array | null,
    rows: readonly DeviceSampleRow[],
  ): Promise<Int32Array> {
    const b = seqs.length;
    if (rows.length !== b || rows.some((r, i) => r.row !== i))
      throw new StepError('submitDecode samples every sequence of the step, row i for sequence i');
    if (tokens === null && this.residentBatch !== b)
      throw new StepError(`no device-drawn tokens of a batch of ${b} to continue from`);
    if (tokens !== null && tokens.length !== b) throw new StepError(`${tokens.length} input tokens for ${b} sequences`);
    const stepRows = this.rows({ seqs: seqs.map((s) => ({ tokens: [0], start: s.start, pages: s.pages })) });
    const adapters = this.acquireAdapters(
      seqs,
      seqs.map(() => 1),
    );
    // pinned until the ids are read back: the step has completed
    try {
      return await this.residentSubmit(seqs, tokens, rows, stepRows, adapters?.rows);
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
    if (tokens)
      for (const [i, t] of tokens.entries())
        if (!Number.isInteger(t) || t < 0 || t >= this.vocabSize)
          throw new StepError(`sequence ${i}: token ${t} is outside the vocabulary [0, ${this.vocabSize})`);
    const known = this.decodeBuckets.get(b);
    const inputs = known?.inputs ?? this.stepTensors(b, b);
    if (tokens) this.backend.write(inputs.tokens, tokens);
    this.backend.write(
      inputs.positions,
      Int32Array.from(seqs, (s) => s.start),
    );
    this.backend.write(
      inputs.last,
      Int32Array.from(seqs, (_, i) => i),
    );
    if (inputs.adapter && adapterRows) this.backend.write(inputs.adapter, adapterRows);
    this.kv.plan(stepRows);
    const bucket = known ?? this.recordBucket(b, inputs);
    const resident = (bucket.resident ??= this.residentFor(bucket, b));
    this.backend.write(resident.params, packSampleParams(rows));
    let slot = resident.staging.find((s) => !s.busy);
    if (!slot) {
      slot = { readback: recordingBackend(this.backend).createReadback(b * 4, `decode.ids.b${b}`), busy: false };
      resident.staging.push(slot);
    }
    slot.busy = true;
    bucket.stream.replayWith([resident.sample], [{ from: inputs.tokens, to: slot.readback }]);
    if (this.lastLogits && this.lastLogitsOwned) this.backend.free(this.lastLogits);
    this.lastLogits = bucket.logits;
    this.lastLogitsOwned = false;
    this.residentBatch = b;
    this.stats.steps++;
    this.stats.replays++;
    this.stats.residentSteps++;
    this.stats.deviceSamples += b;
    const staged = slot;
    return (async () => {
      try {
        return (await staged.readback.read('i32', b)) as Int32Array;
      } finally {
        staged.busy = false;
      }
    })();
  }

  /**
   * GPU time of one decode step of batch `b` (ms): its recorded stream replayed `times` times in
   * one submit, host clock from submit to completion. Benchmarks divide it by the wall time per
   * step to tell how busy the loop keeps the GPU.
   */
  async timeDecodeReplay(b: number, times: number): Promise<number> {
    const bucket = this.decodeBuckets.get(b);
    if (!bucket) throw new StepError(`no recorded decode step of batch ${b}`);
    await this.backend.flush();
    const t0 = performance.now();
    bucket.stream.replayWith(bucket.resident ? [bucket.resident.sample] : [], [], times);
    await this.backend.flush();
    return (performance.now() - t0) / times;
  }

  /** Bytes the weights take on the device (quantized ones as stored); the load log and tests report it. */
  weightBytes(): number {
    return this.weights.reduce((n, t) => n + numel(t.shape) * bytesPerElement(t.dtype), 0);
  }

  /** Weights kept quantized on the device, by format (e.g. { q4_k: 7, q8_0: 14 }). */
  readonly quantizedWeights: Readonly<Record<string, number>> = {};

  /** The recorded decode stream of batch `b`, if one was recorded (tests count its dispatches). */
  decodeStream(b: number): RecordedStream | undefined {
    return this.decodeBuckets.get(b)?.stream;
  }

  /** The sampling stream of a bucket: draws each row's next token into the bucket's token input. */
  private residentFor(bucket: DecodeBucket, b: number): ResidentDecode {
    const gpu = recordingBackend(this.backend);
    const params = this.backend.alloc({ dtype: 'u32', shape: [b, 8] }, 'decode.sample_params', 'activations');
    const sample = gpu.record(() => this.backend.run('sample', {}, [bucket.logits, params], [bucket.inputs.tokens]));
    // three steps in flight keep the GPU busy while the host reads ids and plans the next step
    const staging = Array.from({ length: 3 }, () => ({
      readback: gpu.createReadback(b * 4, `decode.ids.b${b}`),
      busy: false,
    }));
    return { params, sample, staging };
  }

  /** A prefill or mixed step: its inputs and scratch live for this step only. */
  private async transientStep(
    n: number,
    b: number,
    rows: StepRows,
    tokens: Int32Array,
    positions: Int32Array,
    last: Int32Array,
    adapterRows: Int32Array | undefined,
  ): Promise<Tensor> {
    const inputs = this.stepTensors(n, b);
    const lse = this.lseTensor(n);
    const scratch = new HeldScratch(this.backend, 'step');
    this.stepLse = lse;
    this.stepScratch = scratch;
    try {
      this.writeInputs(inputs, tokens, positions, last, adapterRows);
      this.kv.plan(rows);
      return (await this.vm.run('forward', this.args(inputs))) as Tensor;
    } finally {
      this.stepLse = null;
      this.stepScratch = null;
      scratch.free();
      // the backend submits pending work before it frees, and submitted work may outlive the free
      for (const t of this.inputTensors(inputs, lse)) this.backend.free(t);
    }
  }

  /** The compiled function's arguments: step inputs, weights, then the adapter stacks where served. */
  private args(inputs: StepTensors): Tensor[] {
    const lora = this.lora ? [inputs.adapter!, ...this.weights, ...this.lora.params()] : this.weights;
    return [inputs.tokens, inputs.positions, inputs.last, ...lora];
  }

  private inputTensors(inputs: StepTensors, lse: Tensor): Tensor[] {
    return [inputs.tokens, inputs.positions, inputs.last, ...(inputs.adapter ? [inputs.adapter] : []), lse];
  }

  private writeInputs(
    inputs: StepTensors,
    tokens: Int32Array,
    positions: Int32Array,
    last: Int32Array,
    adapterRows: Int32Array | undefined,
  ): void {
    this.backend.write(inputs.tokens, tokens);
    this.backend.write(inputs.positions, positions);
    this.backend.write(inputs.last, last);
    if (inputs.adapter && adapterRows) this.backend.write(inputs.adapter, adapterRows);
  }

  private stepTensors(n: number, b: number): StepTensors {
    const i32 = (len: number, label: string) =>
      this.backend.alloc({ dtype: 'i32', shape: [len] }, label, 'activations');
    return {
      tokens: i32(n, 'step.tokens'),
      positions: i32(n, 'step.positions'),
      last: i32(b, 'step.last'),
      ...(this.lora ? { adapter: i32(n, 'step.adapter') } : {}),
    };
  }

  private lseTensor(n: number): Tensor {
    return this.backend.alloc({ dtype: 'f32', shape: [n, this.config.numHeads] }, 'step.lse', 'activations');
  }

  destroy(): void {
    for (const r of this.decodeBuckets.values()) {
      r.stream.destroy();
      r.resident?.sample.destroy();
    }
    if (this.lastLogits && this.lastLogitsOwned) this.backend.free(this.lastLogits);
    this.vm.release();
    this.decodeVm.release();
    this.kv.destroy();
    for (const t of this.weights) this.backend.free(t);
    this.lora?.destroy();
    for (const r of this.decodeBuckets.values()) {
      for (const t of this.inputTensors(r.inputs, r.lse)) this.backend.free(t);
      r.scratch.free();
      if (r.resident) {
        this.backend.free(r.resident.params);
        for (const s of r.resident.staging) s.readback.destroy();
      }
    }
  }
}
