/**
 * An instance's side of the cluster: it connects to NATS and puts its record (instance-info.ts)
 * under its id in the KV bucket every heartbeat, at once when it starts draining, and deletes it
 * on leaving. The bucket's TTL drops the record of an instance that died without leaving; the
 * router does not wait for that (it drops an instance whose heartbeats stop, roster.ts).
 */
import { Kvm, type KV } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { ServerState } from '../server/server-state.js';
import { INSTANCES_BUCKET, type InstanceInfo } from './instance-info.js';

export const DEFAULT_HEARTBEAT_MS = 500;
/** The bucket's TTL: records outlive a few missed heartbeats only. */
export const BUCKET_TTL_MS = 10_000;

export interface MemberOptions {
  /** NATS server URL(s), e.g. nats://127.0.0.1:4222. */
  servers: string;
  id: string;
  baseUrl: string;
  device: string;
  state: ServerState;
  heartbeatMs?: number;
  log?: (line: string) => void;
}

export interface ClusterMember {
  readonly id: string;
  /** Puts the record now (the CLI calls it when draining starts, so the router stops sending at once). */
  publish(): Promise<void>;
  /** Deletes the record and closes the connection. */
  leave(): Promise<void>;
}

/** The record for this instance now. */
export function instanceSnapshot(o: Pick<MemberOptions, 'id' | 'baseUrl' | 'device' | 'state'>): InstanceInfo {
  const { state } = o;
  const chat = state.models.chatModels();
  const stats = state.engine.stats();
  const names = (f: (m: (typeof chat)[number]) => string[] | undefined) => [
    ...new Set(chat.flatMap((m) => f(m) ?? [])),
  ];
  const maxRunning = state.options.maxConcurrentRequests ?? 64;
  return {
    id: o.id,
    baseUrl: o.baseUrl,
    models: state.models.all().map((m) => m.name),
    adapters: names((m) => m.engine.runner.adapters?.names()),
    residentAdapters: names((m) => m.engine.runner.adapters?.residentNames()),
    maxRunning,
    maxQueued: state.capacity - maxRunning,
    activeRequests: state.activeRequests,
    runningRequests: stats.runningRequests,
    waitingRequests: stats.waitingRequests,
    pagesTotal: stats.pagesTotal,
    pagesFree: stats.pagesTotal - stats.pagesUsed,
    device: o.device,
    draining: state.isDraining,
    healthy: state.models.all().every((m) => m.health() === 'ok'),
    at: Date.now(),
  };
}

export async function openInstancesBucket(nc: NatsConnection): Promise<KV> {
  return new Kvm(nc).create(INSTANCES_BUCKET, { ttl: BUCKET_TTL_MS, history: 1 });
}

export async function joinCluster(o: MemberOptions): Promise<ClusterMember> {
  const log = o.log ?? ((line: string) => console.error(line));
  const nc = await connect({ servers: o.servers, name: `tessera-instance-${o.id}` });
  const kv = await openInstancesBucket(nc);
  let failing = false;
  const publish = async () => {
    try {
      await kv.put(o.id, JSON.stringify(instanceSnapshot(o)));
      if (failing) log(`[tessera cluster] heartbeats reach NATS again`);
      failing = false;
    } catch (e) {
      // a NATS outage must not stop serving: say so once, keep trying each beat
      if (!failing) log(`[tessera cluster] heartbeat failed: ${(e as Error).message}`);
      failing = true;
    }
  };
  await publish();
  const timer = setInterval(() => void publish(), o.heartbeatMs ?? DEFAULT_HEARTBEAT_MS);
  timer.unref();
  log(`[tessera cluster] joined ${o.servers} as '${o.id}' (${o.baseUrl})`);
  return {
    id: o.id,
    publish,
    leave: async () => {
      clearInterval(timer);
      await kv.delete(o.id).catch(() => {});
      await nc.drain().catch(() => {});
    },
  };
}
