/**
 * Runs a Llama-family checkpoint on a backend for the serving engine (`ModelRunner`): the decoder
 * is compiled once (`graph.ts`) for every step shape up to `maxTokens`/`maxSeqs`; each step plans
 * the attention engine over the sequences' KV pages and runs the compiled function. On WebGPU a
 * pure-decode step of a batch size seen before replays a recorded dispatch stream instead: the
 * inputs, page tables and schedule are rewritten, and one submit runs every kernel.
 *
 * @example
 * const runner = await LlamaRunner.load(await openModel('models/builtin'), { backend });
 * const logits = await runner.forward({ seqs: [{ tokens: [0, 477, 504], start: 0, pages: [0] }] });
 */
import { type Backend, type RecordedStream, type Tensor, recordingBackend } from '../../backends/backend.js';
import { compile } from '../../compiler/compile.js';
import type { Executable } from '../../compiler/executable.js';
import { type HostFunction, VirtualMachine } from '../../compiler/vm.js';
import type { OpenedModel } from '../../io/open-model.js';
import type { LlamaConfig } from '../../io/llama-config.js';
import type { ProgressCallback } from '../../io/tensor-source.js';
import type { DeviceSampleRow, ForwardBatch, ForwardOptions, ModelRunner } from '../../engine/model-runner.js';
import { packSampleParams } from '../../ops/sample.js';
import type { DType } from '../../tensor/dtype.js';
import { llamaModule } from './graph.js';
import { PagedKvCache, type StepRows } from './kv-cache.js';
import { uploadWeights } from './weights.js';

export interface LlamaRunnerOptions {
  readonly backend: Backend;
  readonly pageSize?: number;
  /** KV pages per layer (default: enough for `maxSeqs` sequences of the full context, capped at 4096). */
  readonly numPages?: number;
  /** Most tokens one step feeds (prefill chunk + decode tokens). */
  readonly maxTokens?: number;
  readonly maxSeqs?: number;
  /** Activation and KV dtype (default f32 on the CPU backend and where f16 is missing, else f16). */
  readonly actDtype?: DType;
  /** Weight dtype on the backend (default: as stored when f16/bf16/f32). */
  readonly weightDtype?: DType;
  /** Replay recorded dispatch streams for decode steps (default true on WebGPU). */
  readonly recordDecode?: boolean;
  /** CTAs of the attention dispatches (default: BatchAttention's; benchmarks compare). */
  readonly attentionGrid?: number;
  readonly onProgress?: ProgressCallback;
}

export class StepError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StepError';
  }
}

interface StepTensors {
  tokens: Tensor;
  positions: Tensor;
  last: Tensor;
}

interface RecordedDecode {
  stream: RecordedStream;
  inputs: StepTensors;
  logits: Tensor;
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
  private readonly steps = new Map<string, StepTensors>();
  /** Attention log-sum-exp scratch by token count (written by the kernel, unused after). */
  private readonly lse = new Map<number, Tensor>();
  private readonly decodeStreams = new Map<number, RecordedDecode>();
  private readonly recordDecode: boolean;
  /** Logits of the last forward, still on the device (for `sampleOnDevice`). */
  private lastLogits: Tensor | null = null;
  /** Whether `lastLogits` is ours to free (the VM hands returned tensors to the caller; recorded ones live with their stream). */
  private lastLogitsOwned = false;
  /** Steps run, and how many replayed a recorded stream (tests and benches read them). */
  readonly stats = { steps: 0, replays: 0, compiles: 1, deviceSamples: 0 };

  private constructor(
    readonly backend: Backend,
    readonly config: LlamaConfig,
    readonly exe: Executable,
    private readonly weights: Tensor[],
    readonly kv: PagedKvCache,
    o: Required<Pick<LlamaRunnerOptions, 'maxTokens' | 'maxSeqs' | 'recordDecode'>>,
  ) {
    this.vocabSize = config.vocabSize;
    this.maxContext = config.maxPositionEmbeddings;
    this.pageSize = kv.o.pageSize;
    this.numPages = kv.o.numPages;
    this.maxTokens = o.maxTokens;
    this.maxSeqs = o.maxSeqs;
    this.recordDecode = o.recordDecode;
    const kvAttention: HostFunction = (_vm, args, out, attrs) => {
      const [q, k, v] = args as Tensor[];
      this.kv.attend(attrs.layer as number, q!, k!, v!, out, this.lseFor(q!.shape[0]!));
    };
    const host = { kv_attention: kvAttention };
    this.vm = new VirtualMachine(exe, backend, { host });
    // decode shapes are few (one per batch size ≤ maxSeqs) and small, so keeping them is cheap
    this.decodeVm = new VirtualMachine(exe, backend, { stableStorage: true, host });
  }

  static async load(model: OpenedModel, o: LlamaRunnerOptions): Promise<LlamaRunner> {
    const { backend } = o;
    const cfg = model.config;
    const actDtype = o.actDtype ?? (backend.caps.f16 ? 'f16' : 'f32');
    const stored = model.weights.tensors.get('model.embed_tokens.weight')?.dtype;
    const weightDtype = o.weightDtype ?? (stored === 'f16' || stored === 'bf16' || stored === 'f32' ? stored : 'f16');
    const maxTokens = o.maxTokens ?? 512;
    const maxSeqs = o.maxSeqs ?? 64;
    const pageSize = o.pageSize ?? 16;
    const numPages = o.numPages ?? Math.min(4096, maxSeqs * Math.ceil(cfg.maxPositionEmbeddings / pageSize));
    const exe = compile(llamaModule(cfg, { maxTokens, maxSeqs, weightDtype, actDtype }));
    const weights = await uploadWeights(backend, cfg, model.weights, weightDtype, o.onProgress);
    const kv = new PagedKvCache(backend, cfg, { numPages, pageSize, maxTokens, maxSeqs, dtype: actDtype, attentionGrid: o.attentionGrid });
    return new LlamaRunner(backend, cfg, exe, weights, kv, { maxTokens, maxSeqs, recordDecode: o.recordDecode ?? backend.record !== undefined });
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
        if (!Number.isInteger(tok) || tok < 0 || tok >= this.vocabSize) throw new StepError(`sequence ${i}: token ${tok} is outside the vocabulary [0, ${this.vocabSize})`);
        tokens[t] = tok;
        positions[t++] = s.start + j;
      });
      last[i] = t - 1;
    });
    this.stats.steps++;
    const decode = n === b;
    const recorded = decode ? this.decodeStreams.get(b) : undefined;
    // decode inputs are kept (a recorded stream reads them); other shapes are freed after the step
    const keep = decode && this.recordDecode;
    const inputs = recorded?.inputs ?? this.stepTensors(n, b, keep);
    this.backend.write(inputs.tokens, tokens);
    this.backend.write(inputs.positions, positions);
    this.backend.write(inputs.last, last);
    this.kv.plan(rows);
    let logits: Tensor;
    if (recorded) {
      this.stats.replays++;
      recorded.stream.replay();
      logits = recorded.logits;
    } else if (decode && this.recordDecode) {
      const gpu = recordingBackend(this.backend);
      let out: Tensor | undefined;
      const stream = gpu.record(() => {
        out = this.decodeVm.runSync('forward', [inputs.tokens, inputs.positions, inputs.last, ...this.weights]) as Tensor;
      });
      this.decodeStreams.set(b, { stream, inputs, logits: out! });
      stream.replay();
      logits = out!;
    } else {
      logits = (await this.vm.run('forward', [inputs.tokens, inputs.positions, inputs.last, ...this.weights])) as Tensor;
    }
    if (!keep) {
      for (const t of [inputs.tokens, inputs.positions, inputs.last]) this.backend.free(t);
      const lse = this.lse.get(n);
      if (lse) {
        this.backend.free(lse);
        this.lse.delete(n);
      }
    }
    if (this.lastLogits && this.lastLogitsOwned) this.backend.free(this.lastLogits);
    this.lastLogits = logits;
    this.lastLogitsOwned = !decode || !this.recordDecode;
    return options.readLogits === false ? new Float32Array(0) : ((await this.backend.read(logits)) as Float32Array);
  }

  /** Draws tokens with the `sample` op from the last forward's logits; only token ids cross to the host. */
  async sampleOnDevice(rows: readonly DeviceSampleRow[]): Promise<Int32Array> {
    const logits = this.lastLogits;
    if (!logits) throw new StepError('sampleOnDevice before any forward');
    const b = logits.shape[0]!;
    for (const r of rows) if (!Number.isInteger(r.row) || r.row < 0 || r.row >= b) throw new StepError(`sample row ${r.row} outside the last step's ${b} sequences`);
    const temps: Tensor[] = [];
    const alloc = (dtype: 'i32' | 'u32' | 'f32', shape: number[], label: string) => {
      const t = this.backend.alloc({ dtype, shape }, label, 'activations');
      temps.push(t);
      return t;
    };
    try {
      let source = logits;
      if (rows.length !== b || rows.some((r, i) => r.row !== i)) {
        // gather the rows to sample (the embedding op is a row gather)
        const ids = alloc('i32', [rows.length], 'sample.rows');
        this.backend.write(ids, Int32Array.from(rows, (r) => r.row));
        source = alloc('f32', [rows.length, this.vocabSize], 'sample.logits');
        this.backend.run('embedding', {}, [logits, ids], [source]);
      }
      const params = alloc('u32', [rows.length, 8], 'sample.params');
      this.backend.write(params, packSampleParams(rows));
      const out = alloc('i32', [rows.length], 'sample.tokens');
      this.backend.run('sample', {}, [source, params], [out]);
      this.stats.deviceSamples += rows.length;
      return (await this.backend.read(out)) as Int32Array;
    } finally {
      for (const t of temps) this.backend.free(t);
    }
  }

  /** The step's page table rows (after appending), validated against the pool. */
  private rows(batch: ForwardBatch): StepRows {
    const { seqs } = batch;
    if (seqs.length === 0) throw new StepError('a step needs at least one sequence');
    if (seqs.length > this.maxSeqs) throw new StepError(`${seqs.length} sequences in one step, over the runner's maxSeqs ${this.maxSeqs}`);
    const total = seqs.reduce((a, s) => a + s.tokens.length, 0);
    if (total > this.maxTokens) throw new StepError(`${total} tokens in one step, over the runner's maxTokens ${this.maxTokens}`);
    const indptr = new Int32Array(seqs.length + 1);
    const indices: number[] = [];
    const lastPageLen = new Int32Array(seqs.length);
    seqs.forEach((s, i) => {
      const len = s.start + s.tokens.length;
      if (s.tokens.length === 0) throw new StepError(`sequence ${i} has no new tokens`);
      if (len > this.maxContext) throw new StepError(`sequence ${i} reaches position ${len}, over the model's context of ${this.maxContext}`);
      const pages = Math.ceil(len / this.pageSize);
      if (s.pages.length < pages) throw new StepError(`sequence ${i} needs ${pages} KV pages for ${len} tokens, ${s.pages.length} given`);
      for (const p of s.pages.slice(0, pages)) {
        if (!Number.isInteger(p) || p < 0 || p >= this.numPages) throw new StepError(`sequence ${i}: page ${p} is outside the pool [0, ${this.numPages})`);
        indices.push(p);
      }
      indptr[i + 1] = indices.length;
      lastPageLen[i] = len - (pages - 1) * this.pageSize;
    });
    return { qoLens: seqs.map((s) => s.tokens.length), indptr, indices: Int32Array.from(indices), lastPageLen };
  }

  /** Input tensors for a step shape (n tokens, b sequences); decode shapes are kept so they allocate nothing twice. */
  private stepTensors(n: number, b: number, keep: boolean): StepTensors {
    const key = `${n}x${b}`;
    let s = keep ? this.steps.get(key) : undefined;
    if (!s) {
      const i32 = (len: number, label: string) => this.backend.alloc({ dtype: 'i32', shape: [len] }, label, 'activations');
      s = { tokens: i32(n, 'step.tokens'), positions: i32(n, 'step.positions'), last: i32(b, 'step.last') };
      if (keep) this.steps.set(key, s);
    }
    return s;
  }

  private lseFor(n: number): Tensor {
    let t = this.lse.get(n);
    if (!t) this.lse.set(n, (t = this.backend.alloc({ dtype: 'f32', shape: [n, this.config.numHeads] }, 'step.lse', 'activations')));
    return t;
  }

  destroy(): void {
    for (const r of this.decodeStreams.values()) r.stream.destroy();
    if (this.lastLogits && this.lastLogitsOwned) this.backend.free(this.lastLogits);
    this.vm.release();
    this.decodeVm.release();
    this.kv.destroy();
    for (const t of this.weights) this.backend.free(t);
    for (const s of this.steps.values()) for (const t of Object.values(s)) this.backend.free(t);
    for (const t of this.lse.values()) this.backend.free(t);
  }
}
