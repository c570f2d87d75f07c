/**
 * The router's `/v1/models`: the union of what the routable instances serve, in the shape of the
 * server's own list, each entry naming the instances that serve it (`instances`) and, for an
 * adapter, those holding it in a device slot now (`resident_on`, where it is served without an
 * upload). Built from the heartbeats, so listing asks no instance anything.
 */
import type { InstanceInfo } from './instance-info.js';

export interface ClusterModelEntry {
  id: string;
  object: 'model';
  created: number;
  owned_by: 'tessera';
  /** Base model of an adapter, and the `base:adapter` name that selects it there. */
  parent?: string;
  root?: string;
  instances: string[];
  resident_on?: string[];
}

export function mergedModels(instances: readonly InstanceInfo[], created: number): ClusterModelEntry[] {
  const sorted = [...instances].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const entries = new Map<string, ClusterModelEntry>();
  const entry = (id: string, make: () => ClusterModelEntry) => {
    let e = entries.get(id);
    if (!e) entries.set(id, (e = make()));
    return e;
  };
  for (const i of sorted)
    for (const m of i.models)
      entry(m, () => ({ id: m, object: 'model', created, owned_by: 'tessera', instances: [] })).instances.push(i.id);
  for (const i of sorted) {
    // the record does not say which chat model holds an adapter; an instance serves them over its first
    const parent = i.models[0];
    for (const a of i.adapters) {
      const e = entry(a, () => ({
        id: a,
        object: 'model',
        created,
        owned_by: 'tessera',
        ...(parent ? { parent, root: `${parent}:${a}` } : {}),
        instances: [],
        resident_on: [],
      }));
      e.instances.push(i.id);
      if (i.residentAdapters.includes(a)) e.resident_on?.push(i.id);
    }
  }
  return [...entries.values()];
}
