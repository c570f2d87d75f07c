/**
 * Streams bytes into GPU buffers through a ring of host-mapped staging buffers: the source (a file
 * read) writes straight into the mapped range, the GPU copies it on, and the buffer is mapped again
 * while the next ones fill. `queue.writeBuffer` instead copies the caller's array into Dawn's own
 * staging memory first, and the caller's array must exist: a fresh host array per tensor. On an
 * H100 host the ring moved a 16 GB checkpoint at 5.8 GB/s against 1.9 GB/s for reading into fresh
 * arrays and 1.5 GB/s for writeBuffer (`bench/upload-probe.ts`, docs/notes/2026-12-07-loading.md).
 */
import type { Tensor, Uploader } from '../backend.js';
import type { GpuTensor } from './kernel.js';

/** 4 × 64 MiB: enough in flight to hide the map round trip, little enough to stay out of the weights' way. */
const RING = 4;
export const STAGING_CHUNK_BYTES = 64 << 20;

interface Slot {
  readonly buffer: GPUBuffer;
  /** Resolves when the buffer is mapped for writing again. */
  ready: Promise<void>;
}

export class StagingUploader implements Uploader {
  private readonly slots: Slot[];
  private next = 0;
  private finished = false;

  constructor(
    private readonly device: GPUDevice,
    private readonly own: (t: Tensor) => GpuTensor,
    /** Called before each copy so the copy is ordered after work the caller has recorded but not submitted. */
    private readonly beforeCopy: () => void,
    readonly chunkBytes = STAGING_CHUNK_BYTES,
  ) {
    this.slots = Array.from({ length: RING }, (_, i) => ({
      buffer: device.createBuffer({
        size: chunkBytes,
        usage: GPUBufferUsage.MAP_WRITE | GPUBufferUsage.COPY_SRC,
        mappedAtCreation: true,
        label: `upload.staging${i}`,
      }),
      ready: Promise.resolve(),
    }));
  }

  async upload(t: Tensor, byteLength: number, fill: (target: Uint8Array, offset: number) => Promise<void>) {
    if (this.finished) throw new Error('upload: this uploader has finished');
    const g = this.own(t);
    if (byteLength > g.byteSize)
      throw new RangeError(`upload to '${t.label}': ${byteLength} bytes for a buffer of ${g.byteSize}`);
    for (let offset = 0; offset < byteLength; offset += this.chunkBytes) {
      const n = Math.min(this.chunkBytes, byteLength - offset);
      const slot = this.slots[this.next]!;
      this.next = (this.next + 1) % this.slots.length;
      await slot.ready;
      await fill(new Uint8Array(slot.buffer.getMappedRange(0, this.chunkBytes), 0, n), offset);
      slot.buffer.unmap();
      // copies move whole 4-byte words; allocations are padded to them, so the tail word stays inside
      const size = Math.min(Math.ceil(n / 4) * 4, g.byteSize - offset);
      this.beforeCopy();
      const enc = this.device.createCommandEncoder({ label: 'upload' });
      enc.copyBufferToBuffer(slot.buffer, 0, g.buffer, offset, size);
      this.device.queue.submit([enc.finish()]);
      slot.ready = slot.buffer.mapAsync(GPUMapMode.WRITE);
    }
  }

  async finish(): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    // a map still pending when its buffer is destroyed rejects: let every one settle first
    await Promise.allSettled(this.slots.map((s) => s.ready));
    await this.device.queue.onSubmittedWorkDone();
    for (const s of this.slots) s.buffer.destroy();
  }
}
