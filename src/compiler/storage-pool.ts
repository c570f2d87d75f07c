/**
 * Run-time storage for planned tokens. The plan guarantees that tensors sharing a token are never
 * live together, so one token's tensors may share memory.
 *
 * By default each token keeps one backend tensor per (dtype, shape) it holds: tensors of equal
 * shape in one token are one allocation (the residual stream of a transformer block, for
 * instance), and repeated calls at the same dimensions allocate nothing. When a call needs a
 * shape the token did not hold in this call, entries the current call has not used (left from
 * other dimensions) are freed first, so memory follows the latest dims — unless `keepAll` is set:
 * a recorded dispatch stream keeps referring to its buffers, so nothing may be freed under it
 * until `release()`.
 *
 * `shared` (with `keepAll`, on backends with `subview`): each token is one allocation, sized by
 * the caller's capacity (the largest bytes it holds at the dimensions' bounds), and every tensor
 * of it, at any dimensions, is a prefix view. Recorded streams of many batch sizes then hold the
 * storage of the largest one only. Calls must run one after another on the device (one queue
 * orders them), since every call overwrites the same memory.
 */
import type { Backend, Tensor, TensorDesc } from '../backends/backend.js';
import { paddedByteSize } from '../tensor/dtype.js';

/** One allocation of a shared token and the views of it handed out, by (dtype, shape). */
interface Backing {
  readonly tensor: Tensor;
  readonly bytes: number;
  readonly views: Map<string, Tensor>;
}

export class StoragePool {
  private readonly tokens = new Map<string, Map<string, Tensor>>();
  /** Shared mode: each token's backing now; earlier, smaller ones stay alive for the streams that bind them. */
  private readonly backings = new Map<string, Backing>();
  private readonly outgrown: Tensor[] = [];
  private used = new Set<Tensor>();
  allocations = 0;

  constructor(
    private readonly backend: Backend,
    private readonly keepAll: boolean,
    private readonly shared = false,
  ) {
    if (shared && !keepAll) throw new Error('shared storage keeps every allocation (keepAll)');
  }

  /** Whether tokens are shared across dimensions (asked for, and the backend has `subview`). */
  get sharing(): boolean {
    return this.shared && this.backend.subview !== undefined;
  }

  /** Marks the start of a call: tensors from earlier calls become reclaimable. */
  beginCall(): void {
    this.used = new Set();
  }

  /** The tensor of `token` for `desc`; `capacity` (shared mode) sizes a new allocation to serve larger dimensions later. */
  take(token: string, desc: TensorDesc, label: string, capacity = 0): Tensor {
    if (this.sharing) return this.takeShared(token, desc, label, capacity);
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

  private takeShared(token: string, desc: TensorDesc, label: string, capacity: number): Tensor {
    const need = paddedByteSize(desc.dtype, desc.shape);
    let backing = this.backings.get(token);
    if (!backing || backing.bytes < need) {
      // the old backing stays: streams recorded at smaller dimensions still bind it
      if (backing) this.outgrown.push(backing.tensor);
      const bytes = Math.max(need, capacity);
      backing = { tensor: this.backend.alloc({ dtype: 'u32', shape: [bytes / 4] }, label), bytes, views: new Map() };
      this.allocations++;
      this.backings.set(token, backing);
    }
    const key = `${desc.dtype}[${desc.shape.join(',')}]`;
    let t = backing.views.get(key);
    if (!t) {
      t = this.backend.subview!(backing.tensor, desc);
      backing.views.set(key, t);
    }
    return t;
  }

  /** Tensors currently held (tests read it): allocations, not views. */
  size(): number {
    let n = this.backings.size + this.outgrown.length;
    for (const m of this.tokens.values()) n += m.size;
    return n;
  }

  /** Bytes of the shared allocations (0 outside shared mode). */
  sharedBytes(): number {
    let n = 0;
    for (const b of this.backings.values()) n += b.bytes;
    for (const t of this.outgrown) n += paddedByteSize(t.dtype, t.shape);
    return n;
  }

  release(): void {
    for (const m of this.tokens.values()) m.forEach((t) => this.backend.free(t));
    for (const b of this.backings.values()) this.backend.free(b.tensor);
    for (const t of this.outgrown) this.backend.free(t);
    this.tokens.clear();
    this.backings.clear();
    this.outgrown.length = 0;
    this.used.clear();
  }
}
