/**
 * Uniforms of dispatches that are run once (not recorded): slices of one ring buffer instead of a
 * mapped buffer created per dispatch (creating a mapped buffer cost about 0.85 ms of host time per
 * dispatch through Dawn on an H100, which made prefill and every other unrecorded step host-bound).
 *
 * Every slice is bound through the same binding (`binding()`, offset 0) with a dynamic offset, so
 * the bind group does not change with the slice. Slices are staged in a host mirror and reach the
 * GPU in one `queue.writeBuffer` per submit (`flush()`, which the submitter calls first): queue
 * writes land before any command buffer submitted after them. A slice may be reused once the work
 * that bound it has been submitted: slices are handed out in order and, when the ring is full,
 * `beforeWrap` submits the pending work (flushing the mirror) first.
 */
export class UniformRing {
  private readonly buffer: GPUBuffer;
  private readonly mirror: Uint32Array;
  private next = 0;
  /** Byte range of the mirror written since the last flush. */
  private dirtyFrom = Number.POSITIVE_INFINITY;
  private dirtyTo = 0;
  private readonly bindings = new Map<number, GPUBufferBinding>();

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
    this.mirror = new Uint32Array(size / 4);
  }

  /** Bytes a block of `words` takes (a multiple of 16). */
  static blockSize(words: Uint32Array): number {
    return Math.max(16, Math.ceil(words.byteLength / 16) * 16);
  }

  /** The binding every block of `size` bytes is bound through (offset 0; the slice is the dynamic offset). */
  binding(size: number): GPUBufferBinding {
    let b = this.bindings.get(size);
    if (!b) this.bindings.set(size, (b = { buffer: this.buffer, offset: 0, size }));
    return b;
  }

  /** Stages `words` (padded to 16 bytes) and returns the slice's dynamic offset; `beforeWrap` must submit all work encoded so far. */
  slice(words: Uint32Array, beforeWrap: () => void): number {
    const size = UniformRing.blockSize(words);
    if (size > this.size) throw new Error(`uniform block of ${size} bytes over the ring's ${this.size}`);
    if (this.next + size > this.size) {
      beforeWrap();
      this.flush();
      this.next = 0;
    }
    const offset = this.next;
    this.next = Math.ceil((offset + size) / this.alignment) * this.alignment;
    const at = offset / 4;
    this.mirror.set(words, at);
    this.mirror.fill(0, at + words.length, at + size / 4);
    this.dirtyFrom = Math.min(this.dirtyFrom, offset);
    this.dirtyTo = Math.max(this.dirtyTo, offset + size);
    return offset;
  }

  /** Writes the slices staged since the last flush; call before submitting the work that binds them. */
  flush(): void {
    if (this.dirtyTo <= this.dirtyFrom) return;
    this.device.queue.writeBuffer(
      this.buffer,
      this.dirtyFrom,
      this.mirror.buffer,
      this.dirtyFrom,
      this.dirtyTo - this.dirtyFrom,
    );
    this.dirtyFrom = Number.POSITIVE_INFINITY;
    this.dirtyTo = 0;
  }

  destroy(): void {
    this.buffer.destroy();
  }
}
