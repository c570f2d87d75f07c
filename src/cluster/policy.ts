/**
 * Where a request goes: a pure function of the request's locality on each instance and each
 * instance's load, so the router and the simulation run the very same rules.
 *
 * `consolidate` (the router's default) applies, in order:
 *  1. room: instances with a free running slot (load < maxRunning) and free KV pages; when none has
 *     one, those whose queue still has a place (load < maxRunning + maxQueued); none → cluster full (429);
 *  2. longest cached prefix of the prompt (KV pages reused, prefill saved);
 *  3. the request's LoRA adapter already resident (no upload, no slot evicted);
 *  4. Punica's consolidation: the busiest instance that still has room, so the others stay idle
 *     (free to scale down or to take a large request); with only queue places left, the shortest queue.
 * `least-loaded` and `round-robin` are the baselines the simulation compares against; they skip 2–4.
 */

export type PolicyMode = 'consolidate' | 'least-loaded' | 'round-robin';

export interface Candidate {
  readonly id: string;
  /** Requests in flight there (running and queued). */
  readonly load: number;
  readonly maxRunning: number;
  readonly maxQueued: number;
  readonly pagesFree: number;
  /** Leading prompt blocks this instance is believed to hold in its prefix cache. */
  readonly prefixBlocks: number;
  /** The request names an adapter and it sits in a device slot there. */
  readonly adapterResident: boolean;
}

export type RouteReason = 'prefix' | 'adapter' | 'consolidate' | 'queue' | 'least-loaded' | 'round-robin';

export type Decision =
  | {
      readonly kind: 'route';
      readonly instance: string;
      readonly reason: RouteReason;
      readonly prefixBlocks: number;
      readonly adapterResident: boolean;
      /** The chosen instance's load before this request. */
      readonly load: number;
      /** Instances that had room (or a queue place) for it. */
      readonly considered: number;
    }
  | { readonly kind: 'full'; readonly reason: 'cluster_full' | 'no_instance'; readonly considered: number };

export interface RequestLocality {
  /** The request names an adapter (not the base model). */
  readonly usesAdapter: boolean;
}

const hasRunningRoom = (c: Candidate) => c.load < c.maxRunning && c.pagesFree > 0;
const hasQueueRoom = (c: Candidate) => c.load < c.maxRunning + c.maxQueued;
const byId = (a: Candidate, b: Candidate) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/**
 * Picks an instance among `candidates` (those alive, not draining and serving the request's model).
 * `turn` drives round-robin (the caller counts requests); other modes ignore it.
 */
export function chooseInstance(
  request: RequestLocality,
  candidates: readonly Candidate[],
  mode: PolicyMode = 'consolidate',
  turn = 0,
): Decision {
  if (!candidates.length) return { kind: 'full', reason: 'no_instance', considered: 0 };
  const running = candidates.filter(hasRunningRoom);
  const queued = running.length ? running : candidates.filter(hasQueueRoom);
  if (!queued.length) return { kind: 'full', reason: 'cluster_full', considered: 0 };
  const pool = [...queued].sort(byId);
  const route = (c: Candidate, reason: RouteReason): Decision => ({
    kind: 'route',
    instance: c.id,
    reason,
    prefixBlocks: c.prefixBlocks,
    adapterResident: c.adapterResident,
    load: c.load,
    considered: pool.length,
  });
  if (mode === 'round-robin') return route(pool[turn % pool.length]!, 'round-robin');
  if (mode === 'least-loaded') return route(leastLoaded(pool), 'least-loaded');

  let reason: RouteReason | null = null;
  let narrowed = pool;
  const bestPrefix = Math.max(...narrowed.map((c) => c.prefixBlocks));
  if (bestPrefix > 0) {
    narrowed = narrowed.filter((c) => c.prefixBlocks === bestPrefix);
    reason = 'prefix';
  }
  if (request.usesAdapter) {
    const resident = narrowed.filter((c) => c.adapterResident);
    if (resident.length) {
      narrowed = resident;
      reason ??= 'adapter';
    }
  }
  if (!running.length) return route(leastLoaded(narrowed), reason ?? 'queue');
  return route(busiest(narrowed), reason ?? 'consolidate');
}

/** The highest load, ties to the first (by id): packing onto one instance leaves the rest idle. */
function busiest(pool: readonly Candidate[]): Candidate {
  return pool.reduce((best, c) => (c.load > best.load ? c : best));
}

function leastLoaded(pool: readonly Candidate[]): Candidate {
  return pool.reduce((best, c) => (c.load < best.load ? c : best));
}
