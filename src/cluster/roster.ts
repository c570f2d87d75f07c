/**
 * The router's view of the cluster: the last record of each instance and when it arrived (the
 * router's own clock, so clocks of other hosts do not matter). An instance whose heartbeats stop
 * for `staleMs`, whose record is deleted, or that the forwarder found dead (connection refused
 * or reset) is left out of routing; a suspect comes back only with a heartbeat sent after it.
 */
import type { KV } from '@nats-io/kv';
import { type InstanceInfo, parseInstanceInfo } from './instance-info.js';

export const DEFAULT_STALE_MS = 2_000;

interface Entry {
  info: InstanceInfo;
  seenAt: number;
  /** Out of routing until a heartbeat arrives after this (router's clock). */
  suspectUntil: number;
}

export type DropReason = 'heartbeat_lost' | 'left' | 'connection_failed';

export class Roster {
  private readonly entries = new Map<string, Entry>();

  constructor(
    readonly staleMs = DEFAULT_STALE_MS,
    private readonly onDrop: (id: string, reason: DropReason) => void = () => {},
    private readonly onJoin: (info: InstanceInfo) => void = () => {},
  ) {}

  update(info: InstanceInfo, now = Date.now()): void {
    const old = this.entries.get(info.id);
    if (!old) this.onJoin(info);
    this.entries.set(info.id, { info, seenAt: now, suspectUntil: old?.suspectUntil ?? 0 });
  }

  remove(id: string, reason: DropReason = 'left'): void {
    if (this.entries.delete(id)) this.onDrop(id, reason);
  }

  /**
   * The forwarder could not reach it: out of routing until a heartbeat arrives more than
   * `staleMs` from now (a dead process sends none, and its record ages out).
   */
  suspect(id: string, now = Date.now()): void {
    const e = this.entries.get(id);
    if (!e || e.suspectUntil > now) return;
    e.suspectUntil = now + this.staleMs;
    this.onDrop(id, 'connection_failed');
  }

  /** Instances that can take requests: heartbeating, not suspect, healthy and not draining. */
  routable(now = Date.now()): InstanceInfo[] {
    return this.alive(now).filter((i) => i.healthy && !i.draining);
  }

  /** Instances heartbeating and not suspect; drops the stale ones. */
  alive(now = Date.now()): InstanceInfo[] {
    const out: InstanceInfo[] = [];
    for (const [id, e] of [...this.entries]) {
      if (now - e.seenAt > this.staleMs) {
        this.remove(id, 'heartbeat_lost');
        continue;
      }
      if (e.seenAt >= e.suspectUntil) out.push(e.info);
    }
    return out;
  }

  /** Every instance heartbeating, suspects included (the stale ones are dropped). */
  known(now = Date.now()): InstanceInfo[] {
    this.alive(now);
    return [...this.entries.values()].map((e) => e.info);
  }

  get(id: string): InstanceInfo | undefined {
    return this.entries.get(id)?.info;
  }
}

/** Feeds the roster from the KV bucket (current records first, then every change) until `stop`. */
export async function watchRoster(kv: KV, roster: Roster, log: (line: string) => void): Promise<{ stop: () => void }> {
  const watch = await kv.watch();
  void (async () => {
    for await (const e of watch) {
      if (e.operation === 'DEL' || e.operation === 'PURGE') {
        roster.remove(e.key, 'left');
        continue;
      }
      const parsed = parseInstanceInfo(e.string());
      if ('error' in parsed) log(`[tessera router] ignoring record '${e.key}': ${parsed.error}`);
      else roster.update(parsed.info);
    }
  })();
  return { stop: () => watch.stop() };
}
