/**
 * Work encoded but not yet submitted: one command encoder with its open compute pass, and the
 * scratch buffers that work binds. Dispatches share the pass; with a profiler each gets a pass of
 * its own carrying its timestamp writes. `beforeSubmit` runs before every submit (the uniform ring
 * writes its staged slices there); held scratch goes to `release` once submitted.
 */
import type { TimestampProfiler } from './profiler.js';

export class PendingWork {
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private transient: GPUBuffer[] = [];
  /** Buffers to destroy once the work encoded so far is submitted. */
  private doomed: GPUBuffer[] = [];
  /** Dispatches encoded since the last submit. */
  private dispatches = 0;
  profiler: TimestampProfiler | null = null;

  constructor(
    private readonly device: GPUDevice,
    private readonly beforeSubmit: () => void = () => {},
    private readonly release: (buffer: GPUBuffer) => void = (b) => b.destroy(),
    /** Told of each submit and how many dispatches it carried (the queue timeline). */
    private readonly afterSubmit: (dispatches: number) => void = () => {},
  ) {}

  /** Keeps a buffer until the work that binds it has been submitted. */
  hold(buffer: GPUBuffer): void {
    this.transient.push(buffer);
  }

  /** Destroys `buffer` now, or right after the next submit while encoded work may bind it. */
  retire(buffer: GPUBuffer): void {
    if (this.encoder) this.doomed.push(buffer);
    else buffer.destroy();
  }

  get heldBuffers(): number {
    return this.transient.length;
  }

  /** Whether dispatches are encoded and not yet submitted. */
  get encoded(): boolean {
    return this.encoder !== null;
  }

  encode(
    label: string,
    pipeline: GPUComputePipeline,
    bindGroup: GPUBindGroup,
    [x, y, z]: readonly [number, number, number],
    offsets: readonly number[],
  ): void {
    this.encoder ??= this.device.createCommandEncoder();
    this.dispatches++;
    if (this.profiler) {
      this.endPass();
      const p = this.encoder.beginComputePass({ timestampWrites: this.profiler.next(label) });
      p.setPipeline(pipeline);
      p.setBindGroup(0, bindGroup, offsets);
      p.dispatchWorkgroups(x, y, z);
      p.end();
      return;
    }
    this.pass ??= this.encoder.beginComputePass();
    this.pass.setPipeline(pipeline);
    this.pass.setBindGroup(0, bindGroup, offsets);
    this.pass.dispatchWorkgroups(x, y, z);
  }

  /** Submits without waiting; `releaseTransient` false keeps the held buffers for work still to be encoded. */
  submit(releaseTransient = true): void {
    this.beforeSubmit();
    if (!this.encoder) return;
    this.endPass();
    this.device.queue.submit([this.encoder.finish()]);
    this.afterSubmit(this.dispatches);
    this.dispatches = 0;
    this.encoder = null;
    for (const b of this.doomed) b.destroy();
    this.doomed = [];
    if (!releaseTransient) return;
    // submitted work may still run: a released buffer is destroyed (WebGPU lets that work finish)
    // or reused by later work, which the queue orders after it — either way a serving loop that
    // never flushes does not grow
    for (const b of this.transient) this.release(b);
    this.transient = [];
  }

  private endPass(): void {
    this.pass?.end();
    this.pass = null;
  }
}
