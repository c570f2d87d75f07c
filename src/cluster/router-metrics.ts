/**
 * The router's Prometheus metrics (prom-client, one registry per router): every routing decision by
 * its reason, prefix and adapter hits, rejections, retries after a lost instance, instances dropped,
 * and at scrape time the instances routable and the requests in flight on each.
 */
import { Counter, Gauge, Registry } from 'prom-client';
import type { Decision } from './policy.js';

export class RouterMetrics {
  readonly registry = new Registry();
  private readonly decisions = new Counter({
    name: 'tessera_router_decisions_total',
    help: 'Requests routed, by the rule that picked the instance',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  private readonly prefixHits = new Counter({
    name: 'tessera_router_prefix_hits_total',
    help: 'Routed requests whose instance was believed to hold part of the prompt in its prefix cache',
    registers: [this.registry],
  });
  private readonly prefixBlocks = new Counter({
    name: 'tessera_router_prefix_hit_blocks_total',
    help: 'Prompt blocks believed cached on the chosen instance, summed over requests',
    registers: [this.registry],
  });
  private readonly adapterHits = new Counter({
    name: 'tessera_router_adapter_hits_total',
    help: 'Adapter requests sent to an instance where the adapter was resident',
    registers: [this.registry],
  });
  private readonly rejected = new Counter({
    name: 'tessera_router_rejected_total',
    help: 'Requests refused by the router (cluster_full: 429; no_instance: 503; model_not_found: 404)',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  private readonly retries = new Counter({
    name: 'tessera_router_retries_total',
    help: 'Requests sent again elsewhere, by cause',
    labelNames: ['cause'],
    registers: [this.registry],
  });
  private readonly streamsLost = new Counter({
    name: 'tessera_router_streams_lost_total',
    help: 'Streams whose instance was lost after their first event: ended with instance_lost, not retried',
    registers: [this.registry],
  });
  private readonly migrated = new Counter({
    name: 'tessera_router_migrated_total',
    help: 'Requests a draining instance handed back unstarted and the router sent elsewhere, by that instance',
    labelNames: ['instance'],
    registers: [this.registry],
  });
  private readonly dropped = new Counter({
    name: 'tessera_router_instances_dropped_total',
    help: 'Instances taken out of routing, by reason',
    labelNames: ['reason'],
    registers: [this.registry],
  });

  constructor(view: { routable: () => number; inFlight: () => ReadonlyMap<string, number> }) {
    new Gauge({
      name: 'tessera_router_instances',
      help: 'Instances routable now',
      registers: [this.registry],
      collect() {
        this.set(view.routable());
      },
    });
    new Gauge({
      name: 'tessera_router_in_flight',
      help: 'Requests the router has in flight on each instance',
      labelNames: ['instance'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [id, n] of view.inFlight()) this.set({ instance: id }, n);
      },
    });
  }

  decided(d: Decision & { kind: 'route' }, usesAdapter: boolean): void {
    this.decisions.inc({ reason: d.reason });
    if (d.prefixBlocks > 0) {
      this.prefixHits.inc();
      this.prefixBlocks.inc(d.prefixBlocks);
    }
    if (usesAdapter && d.adapterResident) this.adapterHits.inc();
  }

  rejectedFor(reason: string): void {
    this.rejected.inc({ reason });
  }

  retried(cause: string): void {
    this.retries.inc({ cause });
  }

  streamLost(): void {
    this.streamsLost.inc();
  }

  migratedOff(instance: string): void {
    this.migrated.inc({ instance });
  }

  droppedFor(reason: string): void {
    this.dropped.inc({ reason });
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
