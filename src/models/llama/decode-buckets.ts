/**
 * Recorded decode steps, one per batch bucket (step-padding.ts `defaultDecodeBatchBuckets`: a
 * decode of b sequences replays the smallest bucket that holds it, pad rows idle): the dispatch
 * stream of a pure-decode step and every buffer it binds, created once and freed only with the
 * runner, so no step of another shape can release a buffer a stream uses.
 *
 * The steps' activations and logits are one VM's shared storage (storage-pool.ts): each storage
 * token is allocated once for `maxSeqs` rows and every bucket runs in a prefix of it. Decode
 * steps run one after another on the queue, so they can share it, and the streams of all buckets
 * hold what the largest needs, where one allocation per batch size held the sum over sizes (on an
 * 8B model with a 128K vocabulary, ~0.5 MB of f32 logits a row: ~1 GB at 64 sequences, ~17 GB at
 * 256). What stays per bucket is small: inputs, attention scratch, the stream's uniforms.
 */
import {
  type Backend,
  type Readback,
  type RecordedStream,
  type Tensor,
  recordingBackend,
} from '../../backends/backend.js';
import type { Executable } from '../../compiler/executable.js';
import { VirtualMachine } from '../../compiler/vm.js';
import { HeldScratch } from './kv-cache.js';
import type { StepHost } from './step-host.js';
import { padRows } from './step-padding.js';
import { StepError } from './step-rows.js';
import { allocLse, allocStepTensors, type StepTensors, stepInputTensors } from './step-tensors.js';

export interface DecodeBucket {
  stream: RecordedStream;
  inputs: StepTensors;
  lse: Tensor;
  /** The attention's Q (and, where K/V cannot go straight into the pages, K and V) of the stream. */
  scratch: HeldScratch;
  logits: Tensor;
  /** GPU-resident decode (`submitDecode`): sampling params, the sample stream (writes the drawn ids into `inputs.tokens`) and staging buffers the ids are read back through. */
  resident?: ResidentDecode;
}

export interface ResidentDecode {
  params: Tensor;
  sample: RecordedStream;
  /** A ring of host-readable buffers, one per step in flight; busy while its step's ids are unread. */
  staging: { readback: Readback; busy: boolean }[];
}

export class DecodeBuckets {
  private readonly buckets = new Map<number, DecodeBucket>();
  /** Runs the steps that are recorded: stable storage, since a stream keeps pointing at it, shared by the batch sizes. */
  private readonly vm: VirtualMachine;

  constructor(
    private readonly backend: Backend,
    exe: Executable,
    private readonly host: StepHost,
    private readonly numHeads: number,
    private readonly withAdapter: boolean,
    /** The compiled function's arguments for a step's inputs. */
    private readonly args: (inputs: StepTensors) => Tensor[],
    maxSeqs: number,
  ) {
    // a decode step has one row per sequence: n = b ≤ maxSeqs
    this.vm = new VirtualMachine(exe, backend, { sharedUpTo: { n: maxSeqs, b: maxSeqs }, host: host.functions });
  }

  /** Device bytes of the steps' shared storage (0 where the backend cannot share it). */
  sharedBytes(): number {
    return this.vm.sharedBytes();
  }

  get(b: number): DecodeBucket | undefined {
    return this.buckets.get(b);
  }

  /** The inputs of batch size `b`: the recorded bucket's, or fresh ones the recording will own. */
  inputsFor(b: number): StepTensors {
    return this.buckets.get(b)?.inputs ?? allocStepTensors(this.backend, b, b, this.withAdapter);
  }

  /**
   * Writes a resident step's inputs in the bucket of `rows` rows for sequences starting at
   * `starts`: row i is sequence i's one token; `tokens` null keeps the ids the previous step drew
   * on the device. Pad rows take token 0 at position 0 and no adapter (step-padding.ts).
   */
  writeResidentInputs(
    rows: number,
    starts: Int32Array,
    tokens: Int32Array | null,
    adapterRows: Int32Array | undefined,
  ): StepTensors {
    const inputs = this.inputsFor(rows);
    if (tokens) this.backend.write(inputs.tokens, padRows(tokens, rows, 0));
    this.backend.write(inputs.positions, padRows(starts, rows, 0));
    this.backend.write(
      inputs.last,
      Int32Array.from({ length: rows }, (_, i) => i),
    );
    if (inputs.adapter && adapterRows) this.backend.write(inputs.adapter, padRows(adapterRows, rows, -1));
    return inputs;
  }

  /** Records the decode stream of batch size `b` (after `kv.plan`, which the recording reads). */
  record(b: number, inputs: StepTensors): DecodeBucket {
    const gpu = recordingBackend(this.backend);
    const lse = allocLse(this.backend, b, this.numHeads);
    const scratch = new HeldScratch(this.backend, `decode.b${b}`);
    let logits: Tensor | undefined;
    return this.host.within(lse, scratch, () => {
      const stream = gpu.record(() => {
        logits = this.vm.runSync('forward', this.args(inputs)) as Tensor;
      });
      const bucket: DecodeBucket = { stream, inputs, lse, scratch, logits: logits! };
      this.buckets.set(b, bucket);
      return bucket;
    });
  }

  /** The sampling stream of a bucket: draws each row's next token into the bucket's token input. */
  residentOf(bucket: DecodeBucket, b: number): ResidentDecode {
    if (bucket.resident) return bucket.resident;
    const gpu = recordingBackend(this.backend);
    const params = this.backend.alloc({ dtype: 'u32', shape: [b, 8] }, 'decode.sample_params', 'activations');
    const sample = gpu.record(() => this.backend.run('sample', {}, [bucket.logits, params], [bucket.inputs.tokens]));
    // three steps in flight keep the GPU busy while the host reads ids and plans the next step
    const staging = Array.from({ length: 3 }, () => ({
      readback: gpu.createReadback(b * 4, `decode.ids.b${b}`),
      busy: false,
    }));
    bucket.resident = { params, sample, staging };
    return bucket.resident;
  }

  /** A free staging buffer for the ids of a resident step of batch `b` (the ring grows when all are busy). */
  stagingSlot(resident: ResidentDecode, b: number): { readback: Readback; busy: boolean } {
    let slot = resident.staging.find((s) => !s.busy);
    if (!slot) {
      slot = { readback: recordingBackend(this.backend).createReadback(b * 4, `decode.ids.b${b}`), busy: false };
      resident.staging.push(slot);
    }
    return slot;
  }

  /** GPU time of one replay of batch `b` (ms), `times` replays in one submit (see `LlamaRunner.timeDecodeReplay`). */
  async timeReplay(b: number, times: number): Promise<number> {
    const bucket = this.buckets.get(b);
    if (!bucket) throw new StepError(`no recorded decode step of batch ${b}`);
    await this.backend.flush();
    const t0 = performance.now();
    bucket.stream.replayWith(bucket.resident ? [bucket.resident.sample] : [], [], times);
    await this.backend.flush();
    return (performance.now() - t0) / times;
  }

  destroyStreams(): void {
    for (const r of this.buckets.values()) {
      r.stream.destroy();
      r.resident?.sample.destroy();
    }
  }

  releaseVm(): void {
    this.vm.release();
  }

  freeBuffers(): void {
    for (const r of this.buckets.values()) {
      for (const t of stepInputTensors(r.inputs, r.lse)) this.backend.free(t);
      r.scratch.free();
      if (r.resident) {
        this.backend.free(r.resident.params);
        for (const s of r.resident.staging) s.readback.destroy();
      }
    }
  }
}
