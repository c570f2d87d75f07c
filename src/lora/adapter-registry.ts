/**
 * Which adapters live in which device slot. Every added adapter keeps its host copy; a fixed number
 * of slots (the GPU budget divided by one slot's bytes) hold the ones in use, and the least recently
 * used unpinned slot is overwritten when another adapter is needed. A step pins the slots it reads
 * until it completes, so an upload never overwrites weights a submitted step still reads; uploads go
 * through the device queue, ordered after the work already submitted, so they never wait for it.
 */
import type { LoraBaseShapes } from './modules.js';
import type { LoraAdapter } from './peft-adapter.js';

export interface AdapterRegistryOptions {
  /** Device slots (the budget in slots). */
  readonly slots: number;
  /** Highest rank a slot holds. */
  readonly rmax: number;
  /** Writes `adapter` into `slot` of every stack (a queue write: ordered, not blocking). */
  readonly upload: (slot: number, adapter: LoraAdapter) => void;
  /** The base model's projection shapes, which an adapter added here must fit. */
  readonly base?: LoraBaseShapes;
}

interface Resident {
  name: string;
  pins: number;
  lastUse: number;
}

export class AdapterRegistry {
  private readonly hosts = new Map<string, LoraAdapter>();
  private readonly slots: (Resident | null)[];
  private clock = 0;
  /** Uploads done, for tests and metrics. */
  uploads = 0;

  constructor(private readonly o: AdapterRegistryOptions) {
    if (!Number.isInteger(o.slots) || o.slots < 1)
      throw new Error(`adapter registry: needs at least 1 slot, got ${o.slots}`);
    this.slots = Array.from({ length: o.slots }, () => null);
  }

  add(adapter: LoraAdapter): void {
    if (this.hosts.has(adapter.name)) throw new Error(`adapter '${adapter.name}' is already loaded`);
    if (adapter.config.rank > this.o.rmax)
      throw new Error(
        `adapter '${adapter.name}': rank ${adapter.config.rank} exceeds the server's maximum ${this.o.rmax}`,
      );
    this.hosts.set(adapter.name, adapter);
  }

  /** Removes an adapter; refused while a step in flight reads it. */
  remove(name: string): void {
    if (!this.hosts.has(name)) throw new Error(`no adapter '${name}'`);
    const i = this.slotOf(name);
    if (i >= 0 && this.slots[i]!.pins > 0) throw new Error(`adapter '${name}' is in use by a running step`);
    if (i >= 0) this.slots[i] = null;
    this.hosts.delete(name);
  }

  /** The base shapes adapters must fit, where the owner gave them. */
  get base(): LoraBaseShapes | undefined {
    return this.o.base;
  }

  /** Device slots: the most distinct adapters one step may use. */
  get slotCount(): number {
    return this.slots.length;
  }

  has(name: string): boolean {
    return this.hosts.has(name);
  }

  names(): string[] {
    return [...this.hosts.keys()];
  }

  /** Adapters in device slots now (serving them needs no upload). */
  residentNames(): string[] {
    return this.slots.flatMap((s) => (s ? [s.name] : []));
  }

  get(name: string): LoraAdapter | undefined {
    return this.hosts.get(name);
  }

  /**
   * The slot of each named adapter for one step, uploading those not resident; pins them until
   * `release`. Throws when the step names more distinct adapters than there are slots.
   */
  acquire(names: readonly string[]): Map<string, number> {
    const distinct = [...new Set(names)];
    if (distinct.length > this.slots.length)
      throw new Error(`a step uses ${distinct.length} adapters, the GPU budget holds ${this.slots.length}`);
    const out = new Map<string, number>();
    // pin the resident ones first so an upload below never evicts one this step needs
    for (const n of distinct) {
      if (!this.hosts.has(n)) throw new Error(`no adapter '${n}'`);
      const i = this.slotOf(n);
      if (i >= 0) out.set(n, this.pin(i));
    }
    for (const n of distinct) {
      if (out.has(n)) continue;
      const i = this.victim();
      if (i < 0) {
        this.release([...out.keys()]);
        throw new Error(`no free adapter slot: all ${this.slots.length} are in use by running steps`);
      }
      this.o.upload(i, this.hosts.get(n)!);
      this.uploads++;
      this.slots[i] = { name: n, pins: 0, lastUse: 0 };
      out.set(n, this.pin(i));
    }
    return out;
  }

  release(names: readonly string[]): void {
    for (const n of new Set(names)) {
      const i = this.slotOf(n);
      if (i >= 0 && this.slots[i]!.pins > 0) this.slots[i]!.pins--;
    }
  }

  private pin(i: number): number {
    const s = this.slots[i]!;
    s.pins++;
    s.lastUse = ++this.clock;
    return i;
  }

  private slotOf(name: string): number {
    return this.slots.findIndex((s) => s?.name === name);
  }

  /** An empty slot, else the least recently used unpinned one; −1 when all are pinned. */
  private victim(): number {
    const empty = this.slots.indexOf(null);
    if (empty >= 0) return empty;
    let best = -1;
    for (const [i, s] of this.slots.entries())
      if (s!.pins === 0 && (best < 0 || s!.lastUse < this.slots[best]!.lastUse)) best = i;
    return best;
  }
}
