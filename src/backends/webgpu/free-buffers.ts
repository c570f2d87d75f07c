/**
 * Freed GPU buffers kept for reuse, bucketed by (usage, size). An unrecorded step allocates and
 * frees the same intermediates, inputs and scratch every time; creating each anew costs a native
 * call, an error scope and a promise, and gives every step new buffer identities (so no bind group
 * can be reused). WebGPU runs queue work in submission order, so a buffer whose users were all
 * submitted before it was freed may serve work submitted after: callers put a buffer here only
 * once the work that binds it has been submitted.
 *
 * A reused buffer keeps its old contents (as the CPU backend's heap does): kernels write their
 * outputs in full. A bucket holds one size as the caller asks for it (the arena rounds sizes to
 * classes first); idle bytes are capped, oldest destroyed first.
 *
 * Which buffer of a bucket: the one last used under the same label if there is one (a step's
 * storage slot, input or scratch gets its own buffer back, and with it its bind groups, even when
 * other steps' shapes came between), else the first freed.
 */
export interface BufferInfo {
  readonly size: number;
  readonly usage: GPUBufferUsageFlags;
  /** What the buffer was last allocated as. */
  readonly label: string;
}

export class FreeBuffers {
  private readonly buckets = new Map<string, GPUBuffer[]>();
  /** Every idle buffer in the order it was freed (oldest first), with what it was. */
  private readonly idle = new Map<GPUBuffer, BufferInfo>();
  /** Bytes held idle. */
  bytes = 0;
  /** Where a buffer leaving the list goes: destroyed, once nothing unsubmitted binds it (the backend defers it past the next submit). */
  discard: (buffer: GPUBuffer) => void = (b) => b.destroy();

  constructor(private maxIdleBytes: number) {}

  setLimit(bytes: number): void {
    this.maxIdleBytes = bytes;
    this.trim(this.bytes - bytes);
  }

  /** An idle buffer of exactly `size` bytes and `usage` (preferably last used as `label`), or undefined. */
  take(size: number, usage: GPUBufferUsageFlags, label?: string): GPUBuffer | undefined {
    const key = `${usage}:${size}`;
    const list = this.buckets.get(key);
    if (!list) return undefined;
    let at = 0;
    if (label !== undefined && list.length > 1) {
      const same = list.findIndex((b) => this.idle.get(b)!.label === label);
      if (same > 0) at = same;
    }
    const buffer = list.splice(at, 1)[0]!;
    if (list.length === 0) this.buckets.delete(key);
    this.idle.delete(buffer);
    this.bytes -= size;
    return buffer;
  }

  /** Keeps `buffer` for reuse (its users must have been submitted); may destroy the oldest idle ones. */
  put(buffer: GPUBuffer, info: BufferInfo): void {
    if (info.size > this.maxIdleBytes) {
      this.discard(buffer);
      return;
    }
    const key = `${info.usage}:${info.size}`;
    let list = this.buckets.get(key);
    if (!list) this.buckets.set(key, (list = []));
    list.push(buffer);
    this.idle.set(buffer, info);
    this.bytes += info.size;
    if (this.bytes > this.maxIdleBytes) this.trim(this.bytes - this.maxIdleBytes);
  }

  /** Destroys the oldest idle buffers until at least `bytes` are released (all when `bytes` is infinite); returns the bytes released. */
  trim(bytes: number): number {
    let released = 0;
    for (const [buffer, info] of this.idle) {
      if (released >= bytes) break;
      this.idle.delete(buffer);
      const key = `${info.usage}:${info.size}`;
      const list = this.buckets.get(key)!;
      list.splice(list.indexOf(buffer), 1);
      if (list.length === 0) this.buckets.delete(key);
      this.bytes -= info.size;
      released += info.size;
      this.discard(buffer);
    }
    return released;
  }

  get count(): number {
    return this.idle.size;
  }
}
