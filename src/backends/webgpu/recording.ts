/**
 * A dispatch stream while it is recorded, the kernel scratch recorded streams share, and the count
 * of live streams binding each buffer.
 */
import type { RecordedDispatch } from './dispatch-stream.js';

export interface Recording {
  dispatches: RecordedDispatch[];
  /** Uniform buffers made for the stream: it destroys them. */
  owned: GPUBuffer[];
  /** Arena buffers the recorded dispatches bind: they must outlive the stream. */
  bound: Set<GPUBuffer>;
  /** Kernel scratch, shared by every recorded stream of the backend (`RecordedScratch`). */
  scratch: RecordedScratch;
  /** Keys of the scratch buffers this stream binds: released when it is destroyed. */
  taken: Set<string>;
  /** Scratch of each kind taken by the op call being recorded. */
  callScratch: Map<string, number>;
}

/**
 * Kernel scratch of recorded streams by (bytes, label, n), shared by every op call of every
 * stream. A kernel's scratch is dead once its own dispatches ran, a replay runs a stream's
 * dispatches in order, and every stream replays on the one queue, in order, so the next call (of
 * this stream or another) may reuse it; one call asking twice for the same kind gets two buffers.
 * Without the sharing within a stream a recorded prefill step would own one attention
 * partial-state area per layer (GBs at the 8B shape); without it across streams each recorded
 * step of a serving runner (35 mixed row buckets at 2048 tokens a step) owned its own (230 MiB
 * each at the 8B shape). A buffer is destroyed when the last stream binding it is.
 */
export class RecordedScratch {
  private readonly buffers = new Map<string, { buffer: GPUBuffer; users: number }>();

  /** The buffer of `key`, made by `make()` the first time; counts one more user. */
  take(key: string, make: () => GPUBuffer): GPUBuffer {
    let entry = this.buffers.get(key);
    if (!entry) {
      entry = { buffer: make(), users: 0 };
      this.buffers.set(key, entry);
    }
    entry.users++;
    return entry.buffer;
  }

  /** The buffer of `key`, if one is alive. */
  get(key: string): GPUBuffer | undefined {
    return this.buffers.get(key)?.buffer;
  }

  /** One user of each key is gone; a buffer with none left is destroyed. */
  release(keys: Iterable<string>): void {
    for (const key of keys) {
      const entry = this.buffers.get(key)!;
      if (--entry.users > 0) continue;
      this.buffers.delete(key);
      entry.buffer.destroy();
    }
  }

  /** Device bytes of the shared scratch buffers alive. */
  get bytes(): number {
    let n = 0;
    for (const e of this.buffers.values()) n += e.buffer.size;
    return n;
  }
}

/** The `n`-th scratch buffer of a kind for the current op call, shared with earlier calls and other streams. */
export function recordingScratch(rec: Recording, bytes: number, label: string, make: () => GPUBuffer): GPUBuffer {
  const kind = `${bytes}:${label}`;
  const n = rec.callScratch.get(kind) ?? 0;
  rec.callScratch.set(kind, n + 1);
  const key = `${kind}#${n}`;
  // a stream counts once as a user of each buffer, however many of its calls bind it
  if (rec.taken.has(key)) return rec.scratch.get(key)!;
  rec.taken.add(key);
  return rec.scratch.take(key, make);
}

/**
 * How many live dispatch streams bind each buffer. Freeing a bound buffer is a lifetime bug that
 * would otherwise surface at the stream's next replay, far from the free.
 */
export class StreamBindings {
  private readonly count = new Map<GPUBuffer, number>();

  /** Counts a new stream's buffers; the returned function runs `then` and uncounts them when the stream is destroyed. */
  hold(buffers: Iterable<GPUBuffer>, then: () => void = () => {}): () => void {
    const bound = [...buffers];
    for (const b of bound) this.count.set(b, (this.count.get(b) ?? 0) + 1);
    return () => {
      then();
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
