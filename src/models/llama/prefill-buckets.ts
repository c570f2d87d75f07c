/**
 * Recorded single-sequence prefill steps, one per bucket of rows (step-padding.ts): the first
 * prompt of a new length replays the stream of its bucket instead of encoding ~20 dispatches per
 * layer, which is what time to first token pays on the host. A bucket owns its VM (stable
 * storage), inputs, attention scratch and logits, so evicting it frees exactly its buffers (kernel
 * scratch is shared by every recorded stream, `recording.ts`). They
 * are large (the MLP intermediates alone are rows × intermediate × 2 bytes each), so only
 * `capacity` buckets stay recorded and the least recently used goes first.
 *
 * The runner keeps a second set for mixed steps (decodes beside a prefill chunk, several prompts
 * at once), one per row bucket with `mixedLogitRows` logits rows (step-padding.ts): the attention these streams record is the
 * prefill `BatchAttention`, whose grid and array capacities are fixed for any plan of up to
 * maxTokens tokens and maxSeqs sequences, and whose merge pass is a condition asked at each replay,
 * so a later step's plan (other sequence lengths, other pages) replays correctly like a prompt of
 * another length does here. Mixed buckets are kept for good (one per row bucket), so they share one
 * VM's storage (`sharedUpTo`): its tokens sized once for maxTokens rows, each bucket's step in a
 * prefix of them. At the 8B shape with 2048-token steps, 35 buckets held 6.9 GiB of storage apart
 * and hold 0.31 GiB shared.
 */
import { type Backend, type RecordedStream, type Tensor, recordingBackend } from '../../backends/backend.js';
import type { Executable } from '../../compiler/executable.js';
import { VirtualMachine } from '../../compiler/vm.js';
import { liveDeviceBytes } from './device-bytes.js';
import { HeldScratch } from './kv-cache.js';
import type { StepHost } from './step-host.js';
import { bucketKey } from './step-padding.js';
import { allocLse, allocStepTensors, type StepTensors, stepInputTensors } from './step-tensors.js';

export interface PrefillBucket {
  readonly rows: number;
  /** Sequences (rows of the logits). */
  readonly seqs: number;
  readonly stream: RecordedStream;
  readonly inputs: StepTensors;
  readonly logits: Tensor;
  /** Device bytes the bucket holds (its storage, inputs, scratch and the stream's own buffers); 0 where the backend keeps no account. */
  readonly bytes: number;
  readonly vm: VirtualMachine;
  readonly lse: Tensor;
  readonly scratch: HeldScratch;
}

/** Buckets kept recorded by default: three powers of two cover prompts within a factor of 8. */
export const DEFAULT_PREFILL_BUCKETS = 3;

export class PrefillBuckets {
  /** In recency order: the first entry is the least recently used. */
  private readonly buckets = new Map<number, PrefillBucket>();
  evictions = 0;

  constructor(
    private readonly backend: Backend,
    private readonly exe: Executable,
    private readonly host: StepHost,
    private readonly numHeads: number,
    private readonly withAdapter: boolean,
    private readonly args: (inputs: StepTensors) => Tensor[],
    private capacityNow: number,
    /**
     * Bounds of one storage all buckets share (`VmOptions.sharedUpTo`): each storage token
     * allocated once, every bucket's step in a prefix of it. Absent: a VM per bucket, so evicting
     * one frees its storage too (the single-sequence prefill buckets, few and evicted often).
     */
    private readonly sharedUpTo?: Readonly<Record<string, number>>,
  ) {}

  /** The VM all buckets share, made with the first recording and released when the last bucket goes. */
  private shared: VirtualMachine | null = null;

  /** The key of a bucket of `rows` rows over `seqs` sequences (the rows alone for a single sequence). */
  static key(rows: number, seqs = 1): number {
    return bucketKey(rows, seqs);
  }

  /** The bucket of `key`, if recorded (marked most recently used). */
  get(key: number): PrefillBucket | undefined {
    const b = this.buckets.get(key);
    if (b) {
      this.buckets.delete(key);
      this.buckets.set(key, b);
    }
    return b;
  }

  /** The bucket of `rows`, if recorded, without marking it used. */
  peek(rows: number): PrefillBucket | undefined {
    return this.buckets.get(rows);
  }

  /** Keys of the recorded buckets, least recently used first. */
  recorded(): number[] {
    return [...this.buckets.keys()];
  }

  /** Rows, sequences and device bytes of each recorded bucket, least recently used first. */
  info(): { rows: number; seqs: number; bytes: number }[] {
    return [...this.buckets.values()].map((b) => ({ rows: b.rows, seqs: b.seqs, bytes: b.bytes }));
  }

  /** Buckets kept recorded at most (0: none are recorded). */
  get capacity(): number {
    return this.capacityNow;
  }

  /** Stops recording: every bucket is evicted and later steps of this kind run unrecorded. */
  disable(): void {
    this.destroy();
    this.capacityNow = 0;
  }

  /**
   * The bucket of `rows` rows over `seqs` sequences with this step's inputs written (`write`) and
   * its attention planned (`plan`), recorded the first time. Null when recording ran out of
   * memory (a memory budget the buckets do not fit beside the model): this kind then records no
   * more and the step runs unrecorded; `record` has freed what it took.
   */
  prepare(
    rows: number,
    seqs: number,
    write: (inputs: StepTensors) => void,
    plan: () => void,
  ): { bucket: PrefillBucket; known: boolean } | null {
    const known = this.get(PrefillBuckets.key(rows, seqs));
    const inputs = known?.inputs ?? this.newInputs(rows, seqs);
    write(inputs);
    plan();
    if (known) return { bucket: known, known: true };
    try {
      return { bucket: this.record(rows, inputs, seqs), known: false };
    } catch (e) {
      if (!(e instanceof Error && e.name === 'OutOfMemoryError')) throw e;
      this.disable();
      return null;
    }
  }

  /** Inputs for a bucket about to be recorded: evicts down to capacity first, so its buffers may be reused. */
  newInputs(rows: number, seqs = 1): StepTensors {
    while (this.buckets.size >= this.capacity) this.evict(this.buckets.keys().next().value!);
    return allocStepTensors(this.backend, rows, seqs, this.withAdapter);
  }

  /** Records the step of `rows` rows over `seqs` sequences on `inputs` (after `kv.plan`, which the recording reads). */
  record(rows: number, inputs: StepTensors, seqs = 1): PrefillBucket {
    const gpu = recordingBackend(this.backend);
    const before = liveDeviceBytes(this.backend);
    const vm = this.sharedUpTo
      ? (this.shared ??= new VirtualMachine(this.exe, this.backend, {
          sharedUpTo: this.sharedUpTo,
          host: this.host.functions,
        }))
      : new VirtualMachine(this.exe, this.backend, { stableStorage: true, host: this.host.functions });
    const lse = allocLse(this.backend, rows, this.numHeads);
    const scratch = new HeldScratch(this.backend, seqs === 1 ? `prefill.r${rows}` : `mixed.r${rows}.b${seqs}`);
    let logits: Tensor | undefined;
    let stream: RecordedStream;
    try {
      stream = this.host.within(lse, scratch, () =>
        gpu.record(() => {
          logits = vm.runSync('forward', this.args(inputs)) as Tensor;
        }),
      );
    } catch (e) {
      // e.g. out of memory part way: nothing of the bucket stays, its inputs included (shared storage goes with the last bucket)
      if (vm !== this.shared || this.buckets.size === 0) this.releaseVm(vm);
      scratch.free();
      for (const t of stepInputTensors(inputs, lse)) this.backend.free(t);
      throw e;
    }
    const inputBytes = stepInputTensors(inputs, lse)
      .slice(0, -1)
      .reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 1) * 4, 0);
    // the stream's own scratch and uniforms are outside the arena's accounting
    const bytes = before === null ? 0 : liveDeviceBytes(this.backend)! - before + inputBytes + (stream.ownedBytes ?? 0);
    const bucket: PrefillBucket = { rows, seqs, stream, inputs, logits: logits!, bytes, vm, lse, scratch };
    this.buckets.set(PrefillBuckets.key(rows, seqs), bucket);
    return bucket;
  }

  /** Destroys the bucket's stream and frees its buffers (submitted replays finish first: the backend orders frees after them). */
  private evict(key: number): void {
    const b = this.buckets.get(key)!;
    this.buckets.delete(key);
    this.evictions++;
    b.stream.destroy();
    b.scratch.free();
    // the shared VM's logits are views of its storage, freed with it
    for (const t of [...stepInputTensors(b.inputs, b.lse), ...(b.vm === this.shared ? [] : [b.logits])])
      this.backend.free(t);
    if (b.vm !== this.shared || this.buckets.size === 0) this.releaseVm(b.vm);
  }

  private releaseVm(vm: VirtualMachine): void {
    vm.release();
    if (vm === this.shared) this.shared = null;
  }

  destroy(): void {
    for (const key of [...this.buckets.keys()]) this.evict(key);
  }
}
