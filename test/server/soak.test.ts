/**
 * Bounded memory under load: storms of concurrent requests (chat streaming and not, completions,
 * requests cut off by the client, 404s on random paths, /metrics scrapes) against the toy-model
 * server in this process. After warm-up, the heap left after a full GC must not keep growing from
 * storm to storm: whatever a request leaves behind (engine request state, observers, metric label
 * sets, prefix-cache nodes beyond the page pool) would show as steady growth here.
 *
 * Prompts differ per request (seeded), so the prefix cache fills the page pool and has to evict.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../../src/util/rng.js';
import { startTestServer, type TestServer } from './helpers.js';

const SEED = 2024;
const WARMUP_STORMS = 3;
const MEASURED_STORMS = 6;
const REQUESTS_PER_STORM = 96;
/** Heap growth allowed from the first to the last measured storm (after GC). */
const HEAP_GROWTH_LIMIT_BYTES = 3 * 1024 * 1024;
/** Resident memory moves with the allocator and V8's page handling, so its bound is looser. */
const RSS_GROWTH_LIMIT_BYTES = 48 * 1024 * 1024;

/** A full GC: vitest's forks do not start with --expose-gc, so the flag is set at run time. */
function fullGc(): () => void {
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (exposed) return exposed;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

let s: TestServer;
beforeAll(async () => {
  // Few pages: the prefix cache fills and evicts within the first storm.
  s = await startTestServer({
    runner: { numPages: 256 },
    server: { maxConcurrentRequests: 64, maxQueuedRequests: 64 },
  });
});
afterAll(async () => {
  await s.close();
});

const words = ['the', 'river', 'stone', 'morning', 'paper', 'city', 'light', 'north', 'garden', 'train'];

function prompt(rng: Rng): string {
  return Array.from({ length: rng.int(4, 40) }, () => rng.pick(words)).join(' ');
}

async function drain(res: Response): Promise<void> {
  await res.arrayBuffer();
}

async function one(i: number, rng: Rng): Promise<void> {
  const headers = { 'content-type': 'application/json' };
  const maxTokens = rng.int(4, 24);
  const text = prompt(rng);
  switch (i % 6) {
    case 0:
    case 1: {
      const res = await fetch(`${s.url}/v1/chat/completions`, {
        method: 'POST',
        headers,
        body: JSON.stringify({
          model: 'tessera-toy',
          messages: [{ role: 'user', content: text }],
          max_tokens: maxTokens,
          stream: i % 6 === 0,
        }),
      });
      expect(res.status).toBe(200);
      return drain(res);
    }
    case 2: {
      const res = await fetch(`${s.url}/v1/completions`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ model: 'tessera-toy', prompt: text, max_tokens: maxTokens, n: 2, logprobs: 2 }),
      });
      expect(res.status).toBe(200);
      return drain(res);
    }
    case 3: {
      // The client goes away mid-stream: the server must let go of the request.
      const controller = new AbortController();
      const res = await fetch(`${s.url}/v1/chat/completions`, {
        method: 'POST',
        headers,
        signal: controller.signal,
        body: JSON.stringify({
          model: 'tessera-toy',
          messages: [{ role: 'user', content: text }],
          max_tokens: 400,
          stream: true,
        }),
      });
      const reader = res.body!.getReader();
      await reader.read();
      controller.abort();
      await reader.read().catch(() => undefined);
      return;
    }
    case 4: {
      const res = await fetch(`${s.url}/no/such/path/${i}-${rng.int(0, 1e9)}`);
      expect(res.status).toBe(404);
      return drain(res);
    }
    default: {
      const res = await fetch(`${s.url}/metrics`);
      expect(res.status).toBe(200);
      return drain(res);
    }
  }
}

async function storm(rng: Rng): Promise<void> {
  await Promise.all(Array.from({ length: REQUESTS_PER_STORM }, (_, i) => one(i, rng)));
  // Aborted requests end on the engine's next step; wait until nothing runs.
  const end = Date.now() + 5000;
  while ((s.engine.stats().runningRequests > 0 || s.state.activeRequests > 0) && Date.now() < end)
    await new Promise((r) => setTimeout(r, 10));
}

describe('soak: memory after storms of concurrent requests', () => {
  it(`heap and RSS plateau after ${WARMUP_STORMS} warm-up storms (seed ${SEED})`, async () => {
    const gc = fullGc();
    const rng = new Rng(SEED);
    const measure = async () => {
      // Two passes: the first can leave weakly held objects for the second.
      await new Promise((r) => setImmediate(r));
      gc();
      await new Promise((r) => setImmediate(r));
      gc();
      const { heapUsed, rss } = process.memoryUsage();
      return { heapUsed, rss };
    };
    for (let i = 0; i < WARMUP_STORMS; i++) await storm(rng);
    const samples: { heapUsed: number; rss: number }[] = [];
    for (let i = 0; i < MEASURED_STORMS; i++) {
      await storm(rng);
      samples.push(await measure());
    }
    const mb = (b: number) => (b / 1024 / 1024).toFixed(2);
    console.log(
      `[tessera] soak (seed ${SEED}, ${REQUESTS_PER_STORM} requests per storm): heap MB ${samples.map((x) => mb(x.heapUsed)).join(' ')}; rss MB ${samples.map((x) => mb(x.rss)).join(' ')}`,
    );
    const stats = s.engine.stats();
    console.log(`[tessera] soak engine: ${JSON.stringify(stats)}`);
    expect(stats.runningRequests).toBe(0);
    expect(stats.waitingRequests).toBe(0);
    expect(s.state.activeRequests).toBe(0);
    const first = samples[0]!;
    const last = samples.at(-1)!;
    // Compare the last storms with the first measured one: growth that continues storm after storm fails.
    const heapGrowth = Math.min(...samples.slice(-2).map((x) => x.heapUsed)) - first.heapUsed;
    const rssGrowth = Math.min(...samples.slice(-2).map((x) => x.rss)) - first.rss;
    console.log(
      `[tessera] soak growth: heap ${mb(heapGrowth)} MB (limit ${mb(HEAP_GROWTH_LIMIT_BYTES)}), rss ${mb(rssGrowth)} MB (limit ${mb(RSS_GROWTH_LIMIT_BYTES)}); last heap ${mb(last.heapUsed)} MB`,
    );
    expect(heapGrowth).toBeLessThan(HEAP_GROWTH_LIMIT_BYTES);
    expect(rssGrowth).toBeLessThan(RSS_GROWTH_LIMIT_BYTES);
  });
});
