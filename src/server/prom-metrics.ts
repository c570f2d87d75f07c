/**
 * Prometheus metrics (prom-client), one registry per server so several servers in one process
 * (tests) do not collide. Engine state is read at scrape time; latencies are observed per token.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { EngineStats } from '../engine/engine.js';
import type { RequestObserver, RequestOutcome, ServerMetrics } from './metrics.js';

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
/** Window for the tokens-per-second gauge. */
const RATE_WINDOW_MS = 10_000;

export class PromMetrics implements ServerMetrics {
  readonly registry = new Registry();
  private readonly ttft = new Histogram({
    name: 'tessera_time_to_first_token_seconds',
    help: 'Time from request arrival to its first generated token',
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  private readonly itl = new Histogram({
    name: 'tessera_inter_token_latency_seconds',
    help: 'Time between consecutive generated tokens of a request',
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  private readonly e2e = new Histogram({
    name: 'tessera_request_duration_seconds',
    help: 'Time from arrival to the last token',
    labelNames: ['outcome'],
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  private readonly generated = new Counter({
    name: 'tessera_generation_tokens_total',
    help: 'Generated tokens',
    registers: [this.registry],
  });
  private readonly prompt = new Counter({
    name: 'tessera_prompt_tokens_total',
    help: 'Prompt tokens of finished requests',
    registers: [this.registry],
  });
  private readonly responses = new Counter({
    name: 'tessera_http_responses_total',
    help: 'HTTP responses by endpoint and status',
    labelNames: ['endpoint', 'status'],
    registers: [this.registry],
  });
  private readonly gauges = {
    waiting: new Gauge({
      name: 'tessera_requests_waiting',
      help: 'Requests queued, not yet running',
      registers: [this.registry],
    }),
    running: new Gauge({
      name: 'tessera_requests_running',
      help: 'Requests holding KV pages',
      registers: [this.registry],
    }),
    pagesUsed: new Gauge({
      name: 'tessera_kv_pages_used',
      help: 'KV pages held by requests',
      registers: [this.registry],
    }),
    pagesCached: new Gauge({
      name: 'tessera_kv_pages_cached_idle',
      help: 'KV pages held only by the prefix cache',
      registers: [this.registry],
    }),
    pagesTotal: new Gauge({ name: 'tessera_kv_pages_total', help: 'KV page capacity', registers: [this.registry] }),
    usage: new Gauge({
      name: 'tessera_kv_usage_ratio',
      help: 'Fraction of KV pages held by requests',
      registers: [this.registry],
    }),
    hitRate: new Gauge({
      name: 'tessera_prefix_cache_hit_rate',
      help: 'Fraction of prompt tokens served from the prefix cache',
      registers: [this.registry],
    }),
    preemptions: new Gauge({
      name: 'tessera_preemptions',
      help: 'Sequences preempted for lack of KV pages since start',
      registers: [this.registry],
    }),
    tokensPerSecond: new Gauge({
      name: 'tessera_generation_tokens_per_second',
      help: `Generated tokens per second over the last ${RATE_WINDOW_MS / 1000} s`,
      registers: [this.registry],
    }),
  };
  /** (time, count) of recent token arrivals, for the rate gauge. */
  private readonly recent: [number, number][] = [];

  requestStarted(): RequestObserver {
    const start = performance.now();
    let last: number | null = null;
    let ended = false;
    return {
      tokens: (count) => {
        if (count <= 0) return;
        const now = performance.now();
        if (last === null) this.ttft.observe((now - start) / 1000);
        else for (let i = 0; i < count; i++) this.itl.observe((now - last) / 1000 / count);
        last = now;
        this.generated.inc(count);
        this.recent.push([now, count]);
        while (this.recent[0]![0] < now - RATE_WINDOW_MS) this.recent.shift();
      },
      finished: (outcome: RequestOutcome, promptTokens) => {
        if (ended) return;
        ended = true;
        this.e2e.observe({ outcome }, (performance.now() - start) / 1000);
        this.prompt.inc(promptTokens);
      },
    };
  }

  responded(endpoint: string, status: number): void {
    this.responses.inc({ endpoint, status: String(status) });
  }

  async render(stats: EngineStats): Promise<{ contentType: string; body: string }> {
    const g = this.gauges;
    g.waiting.set(stats.waitingRequests);
    g.running.set(stats.runningRequests);
    g.pagesUsed.set(stats.pagesUsed);
    g.pagesCached.set(stats.pagesCachedIdle);
    g.pagesTotal.set(stats.pagesTotal);
    g.usage.set(stats.pagesTotal ? stats.pagesUsed / stats.pagesTotal : 0);
    g.hitRate.set(stats.prefixCacheHitRate);
    g.preemptions.set(stats.preemptions);
    const now = performance.now();
    while (this.recent.length && this.recent[0]![0] < now - RATE_WINDOW_MS) this.recent.shift();
    g.tokensPerSecond.set(this.recent.reduce((n, [, c]) => n + c, 0) / (RATE_WINDOW_MS / 1000));
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
