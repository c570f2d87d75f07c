/**
 * GPU buffers under a memory budget, with accounting by owner ("weights", "kv-cache", …) so a
 * user can see where memory went. Allocation is synchronous (kernels are enqueued synchronously);
 * Dawn reports out-of-memory asynchronously, so each allocation sits in an error scope whose
 * verdict `checkErrors()` collects at the next flush.
 *
 * Freed buffers go to a free list (free-buffers.ts) and serve later allocations of the same size
 * class, so a loop of steps of one shape creates no buffer after its first step, and a step of a
 * new shape mostly reuses; idle buffers count against the budget and are destroyed first when an
 * allocation would exceed it.
 */
import { OutOfMemoryError, formatBytes } from './errors.js';
import { type BufferInfo, FreeBuffers } from './free-buffers.js';

export interface ArenaUsage {
  /** Bytes of live buffers (idle ones on the free list excluded). */
  readonly totalBytes: number;
  readonly budgetBytes: number;
  readonly peakBytes: number;
  readonly byOwner: ReadonlyMap<string, number>;
  /** Bytes of freed buffers kept for reuse. */
  readonly idleBytes: number;
}

/** Idle bytes the free list keeps by default: a few steps' intermediates at an 8B model's prefill shapes. */
export const DEFAULT_IDLE_BYTES = 512 * 1024 * 1024;

const rounded = (bytes: number): number => Math.max(16, Math.ceil(bytes / 16) * 16);

/**
 * Owners whose buffers live as long as the model (or are measured by their size): allocated at
 * their exact size. Every other buffer (step intermediates, inputs, scratch) gets a size class,
 * eight per power of two (at most 12.5% more than asked), so a step of a new token count finds the
 * buffers of a step of a nearby count on the free list — with them their bind groups.
 */
const EXACT_OWNERS: ReadonlySet<string> = new Set(['weights', 'kv-cache', 'measure']);

/** `bytes` rounded up to its size class (256-byte steps up to 4 KiB, then eight classes per octave), or exactly where that exceeds `limit`. */
export function sizeClass(bytes: number, limit = Number.POSITIVE_INFINITY): number {
  const exact = rounded(bytes);
  const step = exact <= 4096 ? 256 : 2 ** (Math.floor(Math.log2(exact)) - 3);
  const cls = Math.ceil(exact / step) * step;
  return cls <= limit ? cls : exact;
}

export class BufferArena {
  private total = 0;
  private peak = 0;
  private readonly byOwner = new Map<string, number>();
  private readonly owners = new Map<GPUBuffer, { owner: string; bytes: number }>();
  private pending: Promise<OutOfMemoryError | null>[] = [];
  /** Buffers created since the arena opened (a steady serving loop creates none). */
  created = 0;
  private readonly freeList: FreeBuffers;
  /** Size, usage and current label of every buffer made here (read back without a native call). */
  private readonly info = new WeakMap<GPUBuffer, BufferInfo>();

  constructor(
    private readonly device: GPUDevice,
    private budget: number,
    idleBytes = DEFAULT_IDLE_BYTES,
    /** Largest buffer a size class may round up to (a whole-buffer binding must stay within the device's binding limit). */
    private readonly classLimit = Number.POSITIVE_INFINITY,
  ) {
    this.freeList = new FreeBuffers(idleBytes);
  }

  setBudget(bytes: number): void {
    this.budget = bytes;
  }

  /** A buffer of at least `bytes` for a tensor of `owner`, counted against the budget; from the free list when one fits. */
  alloc(bytes: number, owner: string, label: string, usage: GPUBufferUsageFlags): GPUBuffer {
    const size = EXACT_OWNERS.has(owner) ? rounded(bytes) : sizeClass(bytes, this.classLimit);
    if (this.total + size > this.budget) {
      throw new OutOfMemoryError(
        label,
        size,
        `budget ${formatBytes(this.budget)}, in use ${formatBytes(this.total)} (${this.describeOwners()})`,
      );
    }
    const reused = this.freeList.take(size, usage, label);
    // idle buffers are device memory too: release them before creating past the budget
    if (!reused) this.freeList.trim(this.total + this.freeList.bytes + size - this.budget);
    const buffer = reused ?? this.create(size, usage, label);
    if (reused) this.info.set(buffer, { size, usage, label });
    this.total += size;
    this.peak = Math.max(this.peak, this.total);
    this.byOwner.set(owner, (this.byOwner.get(owner) ?? 0) + size);
    this.owners.set(buffer, { owner, bytes: size });
    return buffer;
  }

  /**
   * Returns a tensor's buffer; it joins the free list. The caller must have submitted every
   * command that binds it (WebGPU then orders any later use after that work).
   */
  free(buffer: GPUBuffer): void {
    const rec = this.owners.get(buffer);
    if (!rec) return;
    this.owners.delete(buffer);
    this.total -= rec.bytes;
    this.byOwner.set(rec.owner, this.byOwner.get(rec.owner)! - rec.bytes);
    this.freeList.put(buffer, this.info.get(buffer)!);
  }

  /**
   * A buffer for kernel scratch, outside the budget's accounting (it lives until its dispatch is
   * submitted); give it back with `recycle` once that work has been submitted.
   */
  scratch(bytes: number, label: string, usage: GPUBufferUsageFlags): GPUBuffer {
    const size = sizeClass(bytes, this.classLimit);
    const reused = this.freeList.take(size, usage, label);
    if (reused) this.info.set(reused, { size, usage, label });
    return reused ?? this.create(size, usage, label);
  }

  /** Takes back a `scratch` buffer whose users have all been submitted. */
  recycle(buffer: GPUBuffer): void {
    const info = this.info.get(buffer);
    if (info) this.freeList.put(buffer, info);
    else this.freeList.discard(buffer);
  }

  /** Where buffers leaving the free list go (default: destroyed at once). */
  set discard(fn: (buffer: GPUBuffer) => void) {
    this.freeList.discard = fn;
  }

  /** Destroys every idle buffer (the device memory goes back to the driver). */
  trimIdle(): void {
    this.freeList.trim(Number.POSITIVE_INFINITY);
  }

  private create(size: number, usage: GPUBufferUsageFlags, label: string): GPUBuffer {
    this.device.pushErrorScope('out-of-memory');
    const buffer = this.device.createBuffer({ size, usage, label });
    this.info.set(buffer, { size, usage, label });
    this.created++;
    this.pending.push(
      this.device.popErrorScope().then((e) => (e ? new OutOfMemoryError(label, size, e.message) : null)),
    );
    return buffer;
  }

  /** Throws the first out-of-memory error Dawn reported since the last check. */
  async checkErrors(): Promise<void> {
    const pending = this.pending;
    this.pending = [];
    const errors = (await Promise.all(pending)).filter((e): e is OutOfMemoryError => e !== null);
    if (errors.length) throw errors[0];
  }

  usage(): ArenaUsage {
    return {
      totalBytes: this.total,
      budgetBytes: this.budget,
      peakBytes: this.peak,
      byOwner: new Map(this.byOwner),
      idleBytes: this.freeList.bytes,
    };
  }

  private describeOwners(): string {
    return (
      [...this.byOwner]
        .filter(([, b]) => b > 0)
        .map(([o, b]) => `${o} ${formatBytes(b)}`)
        .join(', ') || 'nothing'
    );
  }
}
