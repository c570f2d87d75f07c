/**
 * A dispatch stream while it is recorded, and the count of live streams binding each buffer.
 */
import type { RecordedDispatch } from './dispatch-stream.js';

export interface Recording {
  dispatches: RecordedDispatch[];
  /** Scratch and uniform buffers made for the stream: it destroys them. */
  owned: GPUBuffer[];
  /** Arena buffers the recorded dispatches bind: they must outlive the stream. */
  bound: Set<GPUBuffer>;
}

/**
 * How many live dispatch streams bind each buffer. Freeing a bound buffer is a lifetime bug that
 * would otherwise surface at the stream's next replay, far from the free.
 */
export class StreamBindings {
  private readonly count = new Map<GPUBuffer, number>();

  /** Counts a new stream's buffers; the returned function uncounts them when the stream is destroyed. */
  hold(buffers: Iterable<GPUBuffer>): () => void {
    const bound = [...buffers];
    for (const b of bound) this.count.set(b, (this.count.get(b) ?? 0) + 1);
    return () => {
      for (const b of bound) {
        const n = this.count.get(b)! - 1;
        if (n === 0) this.count.delete(b);
        else this.count.set(b, n);
      }
    };
  }

  has(buffer: GPUBuffer): boolean {
    return this.count.has(buffer);
  }
}
