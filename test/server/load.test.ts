/**
 * A bounded load test on loopback: autocannon keeps twice the server's capacity of connections
 * busy with a fixed number of requests (half streamed). Every response must be either a correct
 * completion (the same greedy text as when run alone) or a clean 429/503 — nothing lost, nothing
 * garbled. The numbers are printed for the record.
 */
import autocannon from 'autocannon';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './helpers.js';

const MODEL = 'tessera-toy';
const CONCURRENT = 8;
const QUEUED = 8;
const CAPACITY = CONCURRENT + QUEUED;
const AMOUNT = 600;
const prompts = Array.from({ length: 12 }, (_, i) => `Load test prompt ${i}:${' more'.repeat(i)}`);

let s: TestServer;
const expected = new Map<string, string>();
beforeAll(async () => {
  // 2 ms of simulated GPU time per step makes capacity, not the CPU, the limit.
  s = await startTestServer({
    runner: { stepDelayMs: 2 },
    server: { maxConcurrentRequests: CONCURRENT, maxQueuedRequests: QUEUED },
  });
  for (const prompt of prompts) {
    const r = await s.client.completions.create({ model: MODEL, prompt, max_tokens: 16, temperature: 0, echo: true });
    expected.set(prompt, r.choices[0]!.text);
  }
});
afterAll(async () => {
  await s.close();
});

/** The completion text of a response body (JSON or SSE), or an error string. */
function completionText(body: string, streamed: boolean): string {
  if (!streamed) return (JSON.parse(body) as { choices: { text: string }[] }).choices[0]!.text;
  const events = body.split('\n\n').filter((e) => e.trim() !== '');
  if (events.at(-1) !== 'data: [DONE]') throw new Error('stream did not end with [DONE]');
  let text = '';
  for (const e of events.slice(0, -1)) {
    if (!e.startsWith('data: ')) throw new Error(`not an SSE data event: ${e.slice(0, 40)}`);
    const chunk = JSON.parse(e.slice(6)) as { choices: { text: string }[] };
    text += chunk.choices[0]?.text ?? '';
  }
  return text;
}

/** What a connection sent last (autocannon's per-connection context). */
interface Sent {
  prompt: string;
  stream: boolean;
}

interface LoadRun {
  ok: number;
  rejected: number;
  problems: string[];
  result: autocannon.Result;
}

async function run(connections: number, amount: number): Promise<LoadRun> {
  let next = 0;
  const statuses = new Map<number, number>();
  const problems: string[] = [];
  const result = await autocannon({
    url: s.url,
    connections,
    amount,
    timeout: 30,
    requests: [
      {
        method: 'POST',
        path: '/v1/completions',
        headers: { 'content-type': 'application/json' },
        setupRequest: (req, context) => {
          const i = next++;
          const prompt = prompts[i % prompts.length]!;
          const stream = i % 2 === 1;
          Object.assign(context, { prompt, stream } satisfies Sent);
          return {
            ...req,
            body: JSON.stringify({ model: MODEL, prompt, max_tokens: 16, temperature: 0, echo: true, stream }),
          };
        },
        onResponse: (status, body, context) => {
          const sent = context as Sent;
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
          try {
            if (status === 200) {
              const text = completionText(body, sent.stream);
              if (text !== expected.get(sent.prompt))
                problems.push(`wrong text for ${sent.prompt}: ${JSON.stringify(text)}`);
            } else if (status === 429 || status === 503) {
              const err = JSON.parse(body) as { error: { type: string } };
              if (!err.error?.type) problems.push(`${status} without an error body`);
            } else problems.push(`unexpected status ${status}: ${body.slice(0, 200)}`);
          } catch (e) {
            problems.push(`garbled ${status} response: ${(e as Error).message}`);
          }
        },
      },
    ],
  });
  const ok = statuses.get(200) ?? 0;
  const rejected = (statuses.get(429) ?? 0) + (statuses.get(503) ?? 0);
  const stats = s.engine.stats();
  console.log(
    `[load] ${connections} connections, capacity ${CAPACITY} (${CONCURRENT} running + ${QUEUED} queued): ${ok} × 200, ${rejected} × 429/503 of ${amount} in ${result.duration.toFixed(1)} s; ` +
      `${result.requests.average.toFixed(0)} req/s; latency p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms; ` +
      `${(ok / result.duration).toFixed(0)} completions/s (${((ok * 16) / result.duration).toFixed(0)} generated tokens/s); engine steps so far ${stats.steps}`,
  );
  expect(problems).toEqual([]);
  expect(result.errors).toBe(0);
  expect(result.timeouts).toBe(0);
  expect(ok + rejected).toBe(amount);
  expect(s.state.activeRequests).toBe(0);
  expect(stats.pagesUsed).toBe(0);
  return { ok, rejected, problems, result };
}

describe('load', () => {
  it(`at capacity (${CAPACITY} connections): every request is served`, async () => {
    const { ok } = await run(CAPACITY, 160);
    expect(ok).toBe(160);
  });

  it(`at 2× capacity (${2 * CAPACITY} connections, ${AMOUNT} requests): no lost or garbled responses, only 429/503 beyond capacity`, async () => {
    const { ok, rejected } = await run(2 * CAPACITY, AMOUNT);
    expect(ok).toBeGreaterThan(CAPACITY);
    expect(rejected).toBeGreaterThan(0);
  });
});
