/**
 * Bind groups of unrecorded dispatches, reused by (layout, each entry's buffer identity, offset and
 * size). Uniforms are bound from the ring with a dynamic offset (the entry itself always starts at
 * 0), and step buffers keep their identity across steps (the arena's free list hands the same
 * buffers back), so a repeated step finds every bind group it needs instead of creating ~80.
 *
 * Identity is by object: a buffer destroyed and another created never share an id, so a stale
 * group is never handed out; groups of destroyed buffers simply wait for the cache to be cleared
 * when it reaches its capacity.
 */
export class BindGroupCache {
  private readonly ids = new WeakMap<object, number>();
  private nextId = 1;
  private readonly groups = new Map<string, GPUBindGroup>();
  /** Bind groups created (tests read it). */
  created = 0;

  constructor(
    private readonly device: GPUDevice,
    private readonly capacity = 8192,
  ) {}

  private id(o: object): number {
    let id = this.ids.get(o);
    if (id === undefined) this.ids.set(o, (id = this.nextId++));
    return id;
  }

  /** The bind group of `layout` over `entries` (buffer bindings only), created on first use. */
  get(layout: GPUBindGroupLayout, entries: GPUBindGroupEntry[]): GPUBindGroup {
    let key = `${this.id(layout)}`;
    for (const e of entries) {
      const r = e.resource as GPUBufferBinding;
      key += `|${this.id(r.buffer)}:${r.offset ?? 0}:${r.size ?? -1}`;
    }
    let group = this.groups.get(key);
    if (group) return group;
    if (this.groups.size >= this.capacity) this.groups.clear();
    group = this.device.createBindGroup({ layout, entries });
    this.created++;
    this.groups.set(key, group);
    return group;
  }

  get size(): number {
    return this.groups.size;
  }
}
