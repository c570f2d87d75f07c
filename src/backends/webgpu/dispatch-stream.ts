/**
 * A recorded dispatch stream — Tessera's analog of a CUDA graph. While recording, kernels are not
 * run; their (pipeline, bind group, workgroup count) triples are kept, with the uniform buffers
 * they need. `replay()` encodes the whole list into one compute pass and submits it, so a decode
 * step whose shapes do not change costs one submit instead of hundreds of kernel launches' worth
 * of CPU work; only buffer contents change between replays, and the host conditions of
 * conditional dispatches (`when`), which each replay asks again.
 */
import type { Readback, RecordedStream, Tensor } from '../backend.js';
import { type DType, type HostArray, hostFromBytes } from '../../tensor/dtype.js';
import type { GpuTensor } from './kernel.js';
import { pacedMapRead, type QueueTimeline } from './queue-timeline.js';
export interface RecordedDispatch {
  readonly label: string;
  readonly pipeline: GPUComputePipeline;
  readonly bindGroup: GPUBindGroup;
  readonly workgroups: readonly [number, number, number];
  /** Dynamic offsets of the bind group (0 for the uniform binding, which a recorded dispatch owns). */
  readonly offsets: readonly number[];
  /** Asked at every replay; false leaves this dispatch out of that replay. */
  readonly when?: () => boolean;
}

/**
 * A MAP_READ buffer that replays copy into; `read` maps it, copies out and unmaps. The map is asked
 * for when the queue timeline expects the copy's submission to be nearly done (queue-timeline.ts).
 */
export class StagingReadback implements Readback {
  /** The timeline's number of the last submission that copied into this buffer (0: none). */
  submission = 0;

  constructor(
    readonly buffer: GPUBuffer,
    readonly bytes: number,
    private readonly timeline?: QueueTimeline,
  ) {}

  /** A readback of at least `bytes` (whole 16-byte blocks, as copies into it need). */
  static create(device: GPUDevice, bytes: number, label: string, timeline?: QueueTimeline): StagingReadback {
    const size = Math.max(16, Math.ceil(bytes / 16) * 16);
    const usage = GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST;
    return new StagingReadback(device.createBuffer({ size, usage, label }), size, timeline);
  }

  async read(dtype: DType, count: number): Promise<HostArray> {
    if (this.timeline && this.submission) await pacedMapRead(this.timeline, this.submission, this.buffer);
    else await this.buffer.mapAsync(GPUMapMode.READ);
    try {
      return hostFromBytes(dtype, new Uint8Array(this.buffer.getMappedRange(0, this.bytes).slice(0)), count);
    } finally {
      this.buffer.unmap();
    }
  }

  destroy(): void {
    this.buffer.destroy();
  }
}

export class DispatchStream implements RecordedStream {
  private destroyed = false;

  constructor(
    private readonly device: GPUDevice,
    readonly dispatches: readonly RecordedDispatch[],
    private readonly owned: readonly GPUBuffer[],
    /** Called before each replay so earlier unsubmitted work keeps its order. */
    private readonly beforeSubmit: () => void,
    /** Called once on destroy: the buffers the stream binds may then be freed. */
    private readonly onDestroy: () => void = () => {},
    /** Told of each replay's submit: a stream replayed once is work whose cost it learns. */
    private readonly timeline?: QueueTimeline,
  ) {}

  get length(): number {
    return this.dispatches.length;
  }

  /** Device bytes of the uniform and scratch buffers the stream owns (outside the arena's budget). */
  get ownedBytes(): number {
    return this.owned.reduce((n, b) => n + b.size, 0);
  }

  /** Enqueues one replay of the whole stream (returns without waiting for the GPU). */
  replay(times = 1): void {
    this.replayWith([], [], times);
  }

  /**
   * One submit: this stream, then `then` streams in the same compute pass, then buffer copies
   * (a decode step, its on-device sampling and the copy of the drawn tokens to a staging buffer).
   */
  replayWith(then: readonly RecordedStream[], copies: readonly { from: Tensor; to: Readback }[], times = 1): void {
    const streams = [this, ...then].map((s) => {
      if (!(s instanceof DispatchStream)) throw new Error('replayWith: streams of another backend');
      if (s.destroyed) throw new Error('replay of a destroyed dispatch stream');
      return s;
    });
    this.beforeSubmit();
    const enc = this.device.createCommandEncoder({ label: 'dispatch-stream' });
    for (let r = 0; r < times; r++) {
      const pass = enc.beginComputePass();
      for (const s of streams) s.encodeInto(pass);
      pass.end();
    }
    for (const c of copies) {
      if (!(c.to instanceof StagingReadback)) throw new Error('replayWith: a readback of another backend');
      const src = (c.from as GpuTensor).buffer;
      enc.copyBufferToBuffer(src, 0, c.to.buffer, 0, Math.min(c.to.bytes, src.size));
    }
    this.device.queue.submit([enc.finish()]);
    // one replay is this stream's work (the streams after it are the same ones each time: a step
    // and its sampling); several in one submit, as benches time them, are not
    const n = this.timeline?.submitted(times === 1 ? this : 'unknown') ?? 0;
    for (const c of copies) (c.to as StagingReadback).submission = n;
  }

  private encodeInto(pass: GPUComputePassEncoder): void {
    for (const d of this.dispatches) {
      if (d.when && !d.when()) continue;
      pass.setPipeline(d.pipeline);
      pass.setBindGroup(0, d.bindGroup, d.offsets);
      pass.dispatchWorkgroups(d.workgroups[0], d.workgroups[1], d.workgroups[2]);
    }
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.onDestroy();
    for (const b of this.owned) b.destroy();
  }
}
