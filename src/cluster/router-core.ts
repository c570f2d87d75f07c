/**
 * The router's bookkeeping around the policy: which instances serve the requested model, what
 * each is believed to cache and hold resident, how many requests the router has in flight on
 * each; every decision is logged as one JSON line with its reason, kept in a short ring for
 * /cluster/decisions, and counted in the metrics.
 */
import type { InstanceInfo } from './instance-info.js';
import { type Candidate, chooseInstance, type Decision, type PolicyMode } from './policy.js';
import { PrefixIndex } from './prefix-index.js';
import { type DropReason, Roster } from './roster.js';
import { RouterMetrics } from './router-metrics.js';

/** What routing needs of a request. */
export interface RoutedRequest {
  readonly id: string;
  /** `/v1/chat/completions` or `/v1/completions`. */
  readonly path: string;
  readonly body: string;
  readonly model: string;
  readonly stream: boolean;
  /** Chained hashes of the prompt's blocks (prefix-index.ts). */
  readonly prefix: readonly string[];
  readonly authorization: string | null;
}

export type LoggedDecision = (Decision & { kind: 'route' }) & {
  request: string;
  model: string;
  attempt: number;
  at: number;
};

export interface RouterCoreOptions {
  mode?: PolicyMode;
  staleMs?: number;
  log?: (line: string) => void;
  /** Decisions kept for /cluster/decisions. */
  keepDecisions?: number;
}

/** Whether the instance serves `model`, and whether `model` names one of its adapters. */
export function servesModel(i: InstanceInfo, model: string): { serves: boolean; adapter: string | null } {
  if (i.models.includes(model)) return { serves: true, adapter: null };
  if (i.adapters.includes(model)) return { serves: true, adapter: model };
  const colon = model.indexOf(':');
  if (colon > 0 && i.models.includes(model.slice(0, colon)) && i.adapters.includes(model.slice(colon + 1)))
    return { serves: true, adapter: model.slice(colon + 1) };
  return { serves: false, adapter: null };
}

export class RouterCore {
  readonly roster: Roster;
  readonly prefixes = new PrefixIndex();
  readonly metrics: RouterMetrics;
  readonly decisions: LoggedDecision[] = [];
  readonly mode: PolicyMode;
  private readonly inFlight = new Map<string, number>();
  /** Adapters the router sent to each instance, and when: resident there before its next heartbeats say so. */
  private readonly adapterSent = new Map<string, Map<string, number>>();
  private turn = 0;
  private readonly log: (line: string) => void;

  constructor(private readonly o: RouterCoreOptions = {}) {
    this.mode = o.mode ?? 'consolidate';
    this.log = o.log ?? ((line) => console.log(line));
    this.metrics = new RouterMetrics({
      routable: () => this.roster.routable().length,
      inFlight: () => this.inFlight,
    });
    this.roster = new Roster(
      o.staleMs,
      (id, reason) => this.dropped(id, reason),
      (info) => this.event({ event: 'join', instance: info.id, baseUrl: info.baseUrl, device: info.device }),
    );
  }

  /** Picks an instance for `req` among those not yet tried; counts and logs the decision. */
  route(req: RoutedRequest, tried: ReadonlySet<string>): { decision: Decision; target?: InstanceInfo; known: boolean } {
    const now = Date.now();
    const live = this.roster.routable(now).filter((i) => !tried.has(i.id));
    const serving = live.flatMap((i) => {
      const s = servesModel(i, req.model);
      return s.serves ? [{ info: i, adapter: s.adapter }] : [];
    });
    const usesAdapter = serving.some((s) => s.adapter !== null);
    const candidates: Candidate[] = serving.map(({ info, adapter }) => ({
      id: info.id,
      load: Math.max(this.inFlight.get(info.id) ?? 0, info.activeRequests),
      maxRunning: info.maxRunning,
      maxQueued: info.maxQueued,
      pagesFree: info.pagesFree,
      prefixBlocks: this.prefixes.matchedBlocks(info.id, req.prefix),
      adapterResident: adapter !== null && this.isResident(info, adapter, now),
    }));
    const decision = chooseInstance({ usesAdapter }, candidates, this.mode, this.turn++);
    if (decision.kind === 'full') {
      // with no instance at all, the cluster cannot tell an unknown model from one it serves when up: 503, not 404
      const others = this.roster.known(now);
      const known = serving.length > 0 || !others.length || others.some((i) => servesModel(i, req.model).serves);
      return { decision, known };
    }
    const target = serving.find((s) => s.info.id === decision.instance)!;
    this.prefixes.record(target.info.id, req.prefix);
    if (target.adapter) this.noteAdapter(target.info.id, target.adapter, now);
    this.metrics.decided(decision, usesAdapter);
    const logged: LoggedDecision = { ...decision, request: req.id, model: req.model, attempt: tried.size + 1, at: now };
    this.decisions.push(logged);
    if (this.decisions.length > (this.o.keepDecisions ?? 10_000)) this.decisions.shift();
    this.event({ event: 'route', ...logged });
    return { decision, target: target.info, known: true };
  }

  /** Counts a request in flight on an instance; call the result when it ends. */
  begin(instance: string): () => void {
    this.inFlight.set(instance, (this.inFlight.get(instance) ?? 0) + 1);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const n = (this.inFlight.get(instance) ?? 1) - 1;
      if (n > 0) this.inFlight.set(instance, n);
      else this.inFlight.delete(instance);
    };
  }

  /** Requests the router has in flight on an instance now. */
  inFlightOn(instance: string): number {
    return this.inFlight.get(instance) ?? 0;
  }

  /** The forwarder could not reach the instance (refused, reset, cut mid-response). */
  instanceFailed(instance: string, request: string, cause: string, detail: string): void {
    this.metrics.retried(cause);
    this.event({ event: 'retry', request, instance, cause, detail });
    this.roster.suspect(instance);
  }

  /** A stream's instance was lost after its first event: the client gets instance_lost, nothing is retried. */
  streamLost(instance: string, request: string): void {
    this.metrics.streamLost();
    this.event({ event: 'lost', request, instance });
    this.roster.suspect(instance);
  }

  /** The instance refused the request in a way another instance may not (draining, full, recovering). */
  instanceRefused(instance: string, request: string, status: number, code: string | null): void {
    // a draining instance handing back what it had not started: the queue moving, not a failure
    const cause = code === 'request_migrated' ? 'migrated' : 'refused';
    this.metrics.retried(cause);
    if (cause === 'migrated') this.metrics.migratedOff(instance);
    this.event({ event: 'retry', request, instance, cause, status, code });
  }

  rejected(request: string, reason: string): void {
    this.metrics.rejectedFor(reason);
    this.event({ event: 'reject', request, reason });
  }

  event(fields: Record<string, unknown>): void {
    this.log(JSON.stringify({ ts: new Date().toISOString(), component: 'tessera-router', ...fields }));
  }

  private isResident(info: InstanceInfo, adapter: string, now: number): boolean {
    if (info.residentAdapters.includes(adapter)) return true;
    const sent = this.adapterSent.get(info.id)?.get(adapter);
    return sent !== undefined && now - sent < this.roster.staleMs;
  }

  private noteAdapter(instance: string, adapter: string, now: number): void {
    let m = this.adapterSent.get(instance);
    if (!m) this.adapterSent.set(instance, (m = new Map()));
    m.set(adapter, now);
  }

  private dropped(id: string, reason: DropReason): void {
    // a restarted or unreachable instance has lost (or cannot serve) what it cached
    this.prefixes.forget(id);
    this.adapterSent.delete(id);
    this.metrics.droppedFor(reason);
    this.event({ event: 'drop', instance: id, reason });
  }
}
