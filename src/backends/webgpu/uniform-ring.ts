/**
 * Uniforms of dispatches that are run once (not recorded): slices of one ring buffer, written with
 * `queue.writeBuffer`, instead of a mapped buffer created per dispatch (creating a mapped buffer
 * cost about 0.85 ms of host time per dispatch through Dawn on an H100, which made prefill and
 * every other unrecorded step host-bound).
 *
 * Queue writes land before any command buffer submitted after them, so a slice may be reused once
 * the work that bound it has been submitted: slices are handed out in order and, when the ring is
 * full, `beforeWrap` submits the pending work first.
 */
export class UniformRing {
  private readonly buffer: GPUBuffer;
  private next = 0;

  constructor(
    private readonly device: GPUDevice,
    private readonly alignment: number,
    readonly size: number = 1 << 18,
  ) {
    this.buffer = device.createBuffer({
      size,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
      label: 'uniform-ring',
    });
  }

  /** A binding of `words` (padded to 16 bytes); `beforeWrap` must submit all work encoded so far. */
  slice(words: Uint32Array, beforeWrap: () => void): GPUBufferBinding {
    const size = Math.max(16, Math.ceil(words.byteLength / 16) * 16);
    if (size > this.size) throw new Error(`uniform block of ${size} bytes over the ring's ${this.size}`);
    if (this.next + size > this.size) {
      beforeWrap();
      this.next = 0;
    }
    const offset = this.next;
    this.next = Math.ceil((offset + size) / this.alignment) * this.alignment;
    const padded =
      words.byteLength === size
        ? words
        : (() => {
            const p = new Uint32Array(size / 4);
            p.set(words);
            return p;
          })();
    this.device.queue.writeBuffer(this.buffer, offset, padded.buffer, padded.byteOffset, size);
    return { buffer: this.buffer, offset, size };
  }

  destroy(): void {
    this.buffer.destroy();
  }
}
