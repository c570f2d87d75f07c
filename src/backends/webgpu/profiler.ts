/**
 * GPU timestamps per dispatch. When profiling is on, the backend gives each dispatch its own compute
 * pass with timestamp writes; `collect()` resolves the query set after the work finishes. Where the
 * device has no `timestamp-query`, profiles are empty and callers time on the host instead.
 */
export interface ProfileEntry {
  readonly label: string;
  readonly ms: number;
}

export class TimestampProfiler {
  private readonly querySet: GPUQuerySet;
  private readonly resolveBuf: GPUBuffer;
  private readonly capacity: number;
  private labels: string[] = [];

  constructor(
    private readonly device: GPUDevice,
    capacity = 2048,
  ) {
    this.capacity = capacity;
    this.querySet = device.createQuerySet({ type: 'timestamp', count: capacity * 2 });
    this.resolveBuf = device.createBuffer({
      size: capacity * 16,
      usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
    });
  }

  // WebGPU caps a query set at 4096 queries: two per dispatch
  /** Timestamp writes for the next dispatch, or undefined when the query set is full. */
  next(label: string): GPUComputePassTimestampWrites | undefined {
    const i = this.labels.length;
    if (i >= this.capacity) return undefined;
    this.labels.push(label);
    return { querySet: this.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 };
  }

  /** Reads all timestamps written since the last collect; call after the work was submitted. */
  async collect(): Promise<ProfileEntry[]> {
    const n = this.labels.length;
    if (n === 0) return [];
    const staging = this.device.createBuffer({
      size: n * 16,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    const enc = this.device.createCommandEncoder();
    enc.resolveQuerySet(this.querySet, 0, 2 * n, this.resolveBuf, 0);
    enc.copyBufferToBuffer(this.resolveBuf, 0, staging, 0, n * 16);
    this.device.queue.submit([enc.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    const t = new BigUint64Array(staging.getMappedRange().slice(0));
    staging.destroy();
    const labels = this.labels;
    this.labels = [];
    return labels.map((label, i) => ({ label, ms: Number(t[2 * i + 1]! - t[2 * i]!) / 1e6 }));
  }

  destroy(): void {
    this.querySet.destroy();
    this.resolveBuf.destroy();
  }
}

/** Sums a profile by label, largest first: the table `perf` modes print. */
export function summarizeProfile(entries: readonly ProfileEntry[]): { label: string; count: number; ms: number }[] {
  const m = new Map<string, { count: number; ms: number }>();
  for (const e of entries) {
    const r = m.get(e.label) ?? { count: 0, ms: 0 };
    r.count++;
    r.ms += e.ms;
    m.set(e.label, r);
  }
  return [...m].map(([label, r]) => ({ label, ...r })).sort((a, b) => b.ms - a.ms);
}
