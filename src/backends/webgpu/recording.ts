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
  /**
   * Kernel scratch by (bytes, label), shared by the stream's op calls: a kernel's scratch is dead
   * once its own dispatches ran, and a replay runs the stream's dispatches in order in one compute
   * pass (each dispatch sees the writes of those before it), so the next call may reuse it. One
   * call asking twice for the same kind gets two buffers. Without this, a recorded prefill step
   * would own one attention partial-state area per layer (GBs at the 8B shape).
   */
  scratch: Map<string, GPUBuffer[]>;
  /** Scratch of each kind taken by the op call being recorded. */
  callScratch: Map<string, number>;
}

/** The `n`-th scratch buffer of a kind for the current op call: a shared one, or `make()`'s, kept for later calls. */
export function recordingScratch(rec: Recording, bytes: number, label: string, make: () => GPUBuffer): GPUBuffer {
  const kind = `${bytes}:${label}`;
  const n = rec.callScratch.get(kind) ?? 0;
  rec.callScratch.set(kind, n + 1);
  const kept = rec.scratch.get(kind) ?? [];
  rec.scratch.set(kind, kept);
  if (n < kept.length) return kept[n]!;
  const buffer = make();
  rec.owned.push(buffer);
  kept.push(buffer);
  return buffer;
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
