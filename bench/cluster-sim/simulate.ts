/**
 * A discrete-event model of a cluster of engine instances under a multi-tenant LoRA trace, routed
 * by the router's own policy (src/cluster/policy.ts). Each instance runs continuous batching: a
 * step advances every running request by one token and admits waiting ones up to `maxRunning`;
 * the step's time comes from the single-instance figures in `InstanceModel` (decode cost growing
 * with batch size, prefill of the prompt tokens not cached, an upload per adapter not resident,
 * a small cost per distinct adapter in the batch as segmented LoRA kernels pay).
 */
import { type Candidate, chooseInstance, type PolicyMode } from '../../src/cluster/policy.js';

export interface InstanceModel {
  /** Seconds of one decode step at batch 1. */
  stepSeconds1: number;
  /** Batch size at which a step takes twice as long as at batch 1 (memory-bound decode up to there). */
  doublingBatch: number;
  /** Prompt tokens prefilled per second (added to the step that admits them). */
  prefillTokensPerSecond: number;
  /** Seconds to upload one adapter into a device slot. */
  adapterUploadSeconds: number;
  /** Extra step time per distinct adapter in the batch, as a fraction of a batch-1 step. */
  perAdapterStepFraction: number;
  maxRunning: number;
  maxQueued: number;
  adapterSlots: number;
  /** Tenants whose shared prompt prefix an instance keeps cached (least recently used go first). */
  prefixCacheTenants: number;
}

export interface TraceRequest {
  arrival: number;
  tenant: number;
  /** The tenant's shared prefix (tokens), then its own prompt tokens. */
  prefixTokens: number;
  promptTokens: number;
  outputTokens: number;
}

export interface SimResult {
  completed: number;
  rejected: number;
  outputTokensPerSecond: number;
  /** Time-averaged instances with at least one request running. */
  busyInstances: number;
  latencyP50: number;
  latencyP99: number;
  ttftP99: number;
  adapterUploads: number;
  prefixHitRate: number;
}

interface Running {
  req: TraceRequest;
  done: number;
  started: boolean;
}

class Lru {
  private readonly m = new Map<number, true>();
  constructor(private readonly cap: number) {}
  has(k: number): boolean {
    return this.m.has(k);
  }
  touch(k: number): boolean {
    const hit = this.m.delete(k);
    this.m.set(k, true);
    if (this.m.size > this.cap) this.m.delete(this.m.keys().next().value!);
    return hit;
  }
}

class Instance {
  readonly running: Running[] = [];
  readonly waiting: TraceRequest[] = [];
  readonly adapters: Lru;
  readonly prefixes: Lru;
  busyUntil = 0;
  constructor(
    readonly id: string,
    m: InstanceModel,
  ) {
    this.adapters = new Lru(m.adapterSlots);
    this.prefixes = new Lru(m.prefixCacheTenants);
  }
  get load(): number {
    return this.running.length + this.waiting.length;
  }
}

const quantile = (xs: number[], q: number) => {
  if (!xs.length) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
};

export function simulate(trace: readonly TraceRequest[], n: number, m: InstanceModel, mode: PolicyMode): SimResult {
  const insts = Array.from({ length: n }, (_, i) => new Instance(`g${String(i).padStart(3, '0')}`, m));
  const latencies: number[] = [];
  const ttfts: number[] = [];
  const stats = { rejected: 0, uploads: 0, prefixHits: 0, admitted: 0, outputTokens: 0, busyArea: 0 };
  let now = 0;
  let next = 0;
  let turn = 0;
  const route = (r: TraceRequest) => {
    const candidates: Candidate[] = insts.map((g) => ({
      id: g.id,
      load: g.load,
      maxRunning: m.maxRunning,
      maxQueued: m.maxQueued,
      pagesFree: 1,
      prefixBlocks: g.prefixes.has(r.tenant) ? Math.floor(r.prefixTokens / 16) : 0,
      adapterResident: g.adapters.has(r.tenant),
    }));
    const d = chooseInstance({ usesAdapter: true }, candidates, mode, turn++);
    if (d.kind === 'full') stats.rejected++;
    else insts.find((g) => g.id === d.instance)!.waiting.push(r);
  };
  const step = (g: Instance) => {
    let extra = 0;
    while (g.running.length < m.maxRunning && g.waiting.length) {
      const req = g.waiting.shift()!;
      if (!g.adapters.touch(req.tenant)) {
        extra += m.adapterUploadSeconds;
        stats.uploads++;
      }
      const cached = g.prefixes.touch(req.tenant);
      if (cached) stats.prefixHits++;
      stats.admitted++;
      extra += (req.promptTokens + (cached ? 0 : req.prefixTokens)) / m.prefillTokensPerSecond;
      g.running.push({ req, done: 0, started: false });
    }
    if (!g.running.length) return;
    const b = g.running.length;
    const distinct = new Set(g.running.map((r) => r.req.tenant)).size;
    const t = m.stepSeconds1 * (1 + (b - 1) / m.doublingBatch + distinct * m.perAdapterStepFraction) + extra;
    g.busyUntil = now + t;
  };
  const finishStep = (g: Instance) => {
    for (const r of g.running) {
      r.done++;
      if (!r.started) ttfts.push(g.busyUntil - r.req.arrival);
      r.started = true;
    }
    stats.outputTokens += g.running.length;
    for (const r of g.running.filter((x) => x.done >= x.req.outputTokens)) latencies.push(g.busyUntil - r.req.arrival);
    g.running.splice(0, g.running.length, ...g.running.filter((x) => x.done < x.req.outputTokens));
  };
  for (;;) {
    const stepping = insts.filter((g) => g.running.length);
    const nextStep = stepping.length ? Math.min(...stepping.map((g) => g.busyUntil)) : Number.POSITIVE_INFINITY;
    const nextArrival = next < trace.length ? trace[next]!.arrival : Number.POSITIVE_INFINITY;
    const t = Math.min(nextStep, nextArrival);
    if (t === Number.POSITIVE_INFINITY) break;
    stats.busyArea += stepping.length * (t - now);
    now = t;
    if (nextArrival <= nextStep) {
      route(trace[next++]!);
      for (const g of insts) if (!g.running.length && g.waiting.length) step(g);
      continue;
    }
    for (const g of stepping.filter((x) => x.busyUntil === t)) {
      finishStep(g);
      step(g);
    }
  }
  return {
    completed: latencies.length,
    rejected: stats.rejected,
    outputTokensPerSecond: stats.outputTokens / now,
    busyInstances: stats.busyArea / now,
    latencyP50: quantile(latencies, 0.5),
    latencyP99: quantile(latencies, 0.99),
    ttftP99: quantile(ttfts, 0.99),
    adapterUploads: stats.uploads,
    prefixHitRate: stats.prefixHits / Math.max(1, stats.admitted),
  };
}
