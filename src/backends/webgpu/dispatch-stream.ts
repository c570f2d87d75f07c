/**
 * A recorded dispatch stream — Tessera's analog of a CUDA graph. While recording, kernels are not
 * run; their (pipeline, bind group, workgroup count) triples are kept, with the uniform buffers
 * they need. `replay()` encodes the whole list into one compute pass and submits it, so a decode
 * step whose shapes do not change costs one submit instead of hundreds of kernel launches' worth
 * of CPU work; only buffer contents change between replays, and the host conditions of
 * conditional dispatches (`when`), which each replay asks again.
 */
export interface RecordedDispatch {
  readonly label: string;
  readonly pipeline: GPUComputePipeline;
  readonly bindGroup: GPUBindGroup;
  readonly workgroups: readonly [number, number, number];
  /** Asked at every replay; false leaves this dispatch out of that replay. */
  readonly when?: () => boolean;
}

export class DispatchStream {
  private destroyed = false;

  constructor(
    private readonly device: GPUDevice,
    readonly dispatches: readonly RecordedDispatch[],
    private readonly owned: readonly GPUBuffer[],
    /** Called before each replay so earlier unsubmitted work keeps its order. */
    private readonly beforeSubmit: () => void,
  ) {}

  get length(): number {
    return this.dispatches.length;
  }

  /** Enqueues one replay of the whole stream (returns without waiting for the GPU). */
  replay(times = 1): void {
    if (this.destroyed) throw new Error('replay of a destroyed dispatch stream');
    this.beforeSubmit();
    const enc = this.device.createCommandEncoder({ label: 'dispatch-stream' });
    for (let r = 0; r < times; r++) {
      const pass = enc.beginComputePass();
      for (const d of this.dispatches) {
        if (d.when && !d.when()) continue;
        pass.setPipeline(d.pipeline);
        pass.setBindGroup(0, d.bindGroup);
        pass.dispatchWorkgroups(d.workgroups[0], d.workgroups[1], d.workgroups[2]);
      }
      pass.end();
    }
    this.device.queue.submit([enc.finish()]);
  }

  destroy(): void {
    this.destroyed = true;
    for (const b of this.owned) b.destroy();
  }
}
