/**
 * GPU buffers under a memory budget, with accounting by owner ("weights", "kv-cache", …) so a
 * user can see where memory went. Allocation is synchronous (kernels are enqueued synchronously);
 * Dawn reports out-of-memory asynchronously, so each allocation sits in an error scope whose
 * verdict `checkErrors()` collects at the next flush.
 */
import { OutOfMemoryError, formatBytes } from './errors.js';

export interface ArenaUsage {
  readonly totalBytes: number;
  readonly budgetBytes: number;
  readonly peakBytes: number;
  readonly byOwner: ReadonlyMap<string, number>;
}

export class BufferArena {
  private total = 0;
  private peak = 0;
  private readonly byOwner = new Map<string, number>();
  private readonly owners = new Map<GPUBuffer, { owner: string; bytes: number }>();
  private pending: Promise<OutOfMemoryError | null>[] = [];
  /** Buffers created since the arena opened (a steady serving loop creates none). */
  created = 0;

  constructor(
    private readonly device: GPUDevice,
    private budget: number,
  ) {}

  setBudget(bytes: number): void {
    this.budget = bytes;
  }

  alloc(bytes: number, owner: string, label: string, usage: GPUBufferUsageFlags): GPUBuffer {
    const size = Math.max(16, Math.ceil(bytes / 16) * 16);
    if (this.total + size > this.budget) {
      throw new OutOfMemoryError(
        label,
        size,
        `budget ${formatBytes(this.budget)}, in use ${formatBytes(this.total)} (${this.describeOwners()})`,
      );
    }
    this.device.pushErrorScope('out-of-memory');
    const buffer = this.device.createBuffer({ size, usage, label });
    this.created++;
    this.pending.push(
      this.device.popErrorScope().then((e) => (e ? new OutOfMemoryError(label, size, e.message) : null)),
    );
    this.total += size;
    this.peak = Math.max(this.peak, this.total);
    this.byOwner.set(owner, (this.byOwner.get(owner) ?? 0) + size);
    this.owners.set(buffer, { owner, bytes: size });
    return buffer;
  }

  free(buffer: GPUBuffer): void {
    const rec = this.owners.get(buffer);
    if (!rec) return;
    this.owners.delete(buffer);
    this.total -= rec.bytes;
    this.byOwner.set(rec.owner, this.byOwner.get(rec.owner)! - rec.bytes);
    buffer.destroy();
  }

  /** Throws the first out-of-memory error Dawn reported since the last check. */
  async checkErrors(): Promise<void> {
    const pending = this.pending;
    this.pending = [];
    const errors = (await Promise.all(pending)).filter((e): e is OutOfMemoryError => e !== null);
    if (errors.length) throw errors[0];
  }

  usage(): ArenaUsage {
    return { totalBytes: this.total, budgetBytes: this.budget, peakBytes: this.peak, byOwner: new Map(this.byOwner) };
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
