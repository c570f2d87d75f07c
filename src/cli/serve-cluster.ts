/** `tessera serve --cluster`: the one place the serving CLI reaches into src/cluster (membership). */
import { hostname } from 'node:os';
import { type ClusterMember, joinCluster } from '../cluster/membership.js';
import type { RunningServer } from '../server/node-server.js';

export async function joinClusterFromCli(
  o: { cluster?: string; instanceId?: string; advertiseUrl?: string },
  server: RunningServer,
  device: string,
): Promise<ClusterMember> {
  const id = o.instanceId ?? `${hostname()}-${process.pid}`;
  return joinCluster({ servers: o.cluster!, id, baseUrl: o.advertiseUrl ?? server.url, device, state: server.state });
}
