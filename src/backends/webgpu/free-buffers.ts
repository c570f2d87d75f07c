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
 */
export class FreeBuffers {
  private readonly buckets = new Map<string, GPUBuffer[]>();
  /** Every idle buffer in the order it was freed (oldest first), with its bucket key. */
  private readonly idle = new Map<GPUBuffer, string>();
  /** Bytes held idle. */
  bytes = 0;

  constructor(private maxIdleBytes: number) {}

  setLimit(bytes: number): void {
    this.maxIdleBytes = bytes;
    this.trim(this.bytes - bytes);
  }

  /** An idle buffer of exactly `size` bytes and `usage`, or undefined. */
  take(size: number, usage: GPUBufferUsageFlags): GPUBuffer | undefined {
    const key = `${usage}:${size}`;
    // first freed, first reused: a step frees its buffers in the order it made them, so the next
    // step of that shape gets each one back in the same place (and finds its bind groups)
    const buffer = this.buckets.get(key)?.shift();
    if (!buffer) return undefined;
    this.idle.delete(buffer);
    this.bytes -= buffer.size;
    return buffer;
  }

  /** Keeps `buffer` for reuse (its users must have been submitted); may destroy the oldest idle ones. */
  put(buffer: GPUBuffer): void {
    if (buffer.size > this.maxIdleBytes) {
      buffer.destroy();
      return;
    }
    const key = `${buffer.usage}:${buffer.size}`;
    let list = this.buckets.get(key);
    if (!list) this.buckets.set(key, (list = []));
    list.push(buffer);
    this.idle.set(buffer, key);
    this.bytes += buffer.size;
    this.trim(this.bytes - this.maxIdleBytes);
  }

  /** Destroys the oldest idle buffers until at least `bytes` are released (all when `bytes` is infinite); returns the bytes released. */
  trim(bytes: number): number {
    let released = 0;
    for (const [buffer, key] of this.idle) {
      if (released >= bytes) break;
      this.idle.delete(buffer);
      const list = this.buckets.get(key)!;
      list.splice(list.indexOf(buffer), 1);
      if (list.length === 0) this.buckets.delete(key);
      this.bytes -= buffer.size;
      released += buffer.size;
      buffer.destroy();
    }
    return released;
  }

  get count(): number {
    return this.idle.size;
  }
}
