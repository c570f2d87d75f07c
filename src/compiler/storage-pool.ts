/**
 * Run-time storage for planned tokens. The `Backend` contract has no views into a larger
 * buffer, so a token cannot be one allocation at its planned capacity; instead each token keeps
 * one backend tensor per (dtype, shape) it holds. The plan guarantees that tensors sharing a
 * token are never live together, so tensors of equal shape in one token are one allocation
 * (the residual stream of a transformer block, for instance), and repeated calls at the same
 * dimensions allocate nothing.
 *
 * When a call needs a shape the token did not hold in this call, entries the current call has
 * not used (left from other dimensions) are freed first, so memory follows the latest dims —
 * unless `keepAll` is set: a recorded dispatch stream keeps referring to its buffers, so
 * nothing may be freed under it until `release()`.
 */
import type { Backend, Tensor, TensorDesc } from '../backends/backend.js';

export class StoragePool {
  private readonly tokens = new Map<string, Map<string, Tensor>>();
  private used = new Set<Tensor>();
  allocations = 0;

  constructor(
    private readonly backend: Backend,
    private readonly keepAll: boolean,
  ) {}

  /** Marks the start of a call: tensors from earlier calls become reclaimable. */
  beginCall(): void {
    this.used = new Set();
  }

  take(token: string, desc: TensorDesc, label: string): Tensor {
    const byShape = this.tokens.get(token) ?? new Map<string, Tensor>();
    this.tokens.set(token, byShape);
    const key = `${desc.dtype}[${desc.shape.join(',')}]`;
    let t = byShape.get(key);
    if (!t) {
      if (!this.keepAll) {
        for (const [k, old] of byShape)
          if (!this.used.has(old)) {
            this.backend.free(old);
            byShape.delete(k);
          }
      }
      t = this.backend.alloc(desc, label);
      this.allocations++;
      byShape.set(key, t);
    }
    this.used.add(t);
    return t;
  }

  /** Tensors currently held (tests read it). */
  size(): number {
    let n = 0;
    for (const m of this.tokens.values()) n += m.size;
    return n;
  }

  release(): void {
    for (const m of this.tokens.values()) m.forEach((t) => this.backend.free(t));
    this.tokens.clear();
    this.used.clear();
  }
}
