/**
 * Cluster mode end to end, the ways an instance leaves: a real nats-server, three `tessera serve
 * --cluster` processes (built-in model, CPU backend) and the router, driven through the official
 * `openai` client.
 *  - SIGKILL under a stream that has already sent output: the client gets an explicit
 *    `instance_lost` error, never a silently cut success, and the router keeps serving.
 *  - SIGTERM (drain) of an instance with a queue: the requests it had not started are handed back
 *    and answered by another instance without an error; those it was generating finish there; each
 *    request is answered once and the hand-backs are counted in the router's metrics.
 *  - The last instance gone: the router's /health fails (503) and requests get an explicit 503.
 * Skipped, with the reason in its title, where nats-server is not installed.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NATS_SERVER } from '../../scripts/cluster-processes.mjs';
import type { RunningRouter } from '../../src/cluster/router.js';
import { countBy, TestCluster, until } from './test-cluster.js';

const MODEL = 'tessera-builtin';
/** vLLM's extension the server honours: every answer runs to max_tokens, so lengths can be asserted. */
const IGNORE_EOS = { ignore_eos: true } as object;

describe.skipIf(!NATS_SERVER)(
  `cluster: instances leaving (kill under a stream, drain with a queue)${NATS_SERVER ? '' : ' (skipped: nats-server is not installed)'}`,
  () => {
    const cluster = new TestCluster();
    const { instances, routerLog } = cluster;
    let router: RunningRouter;
    let client: OpenAI;
    const byId = (id: string) => instances.find((i) => i.id === id)!;
    const alive = () => instances.filter((i) => i.child.exitCode === null && i.child.signalCode === null);
    const health = async () => {
      const res = await fetch(`${router.url}/health`);
      return { status: res.status, body: (await res.json()) as { status: string; instances: { id: string }[] } };
    };

    beforeAll(async () => {
      await cluster.start('tessera-cluster-drain-', () => ['--max-concurrent', '2', '--max-queue', '8']);
      ({ router, client } = cluster);
    }, 180_000);

    afterAll(() => cluster.stop());

    const messages = (system: string, user: string) => [
      { role: 'system' as const, content: system },
      { role: 'user' as const, content: user },
    ];
    const longSystem = (topic: string) =>
      `${`You are a careful assistant for ${topic}. `.repeat(8)}Answer briefly and stay on topic.`;

    it('ends a stream that already sent output with instance_lost when its instance is killed, and keeps serving', async () => {
      const stream = await client.chat.completions.create({
        model: MODEL,
        messages: messages('streaming probe', 'tell me a long story'),
        max_tokens: 128,
        stream: true,
        ...IGNORE_EOS,
      });
      const seen: string[] = [];
      const finishes: string[] = [];
      let victim = null as string | null;
      const outcome = await (async () => {
        for await (const chunk of stream) {
          const c = chunk.choices[0];
          if (c?.finish_reason) finishes.push(c.finish_reason);
          if (!c?.delta.content || victim) {
            if (c?.delta.content) seen.push(c.delta.content);
            continue;
          }
          seen.push(c.delta.content);
          // output has reached the client: the stream is committed to this instance
          victim = router.core.decisions.at(-1)!.instance;
          byId(victim).child.kill('SIGKILL');
        }
        return 'completed';
      })().catch((e: unknown) => e);
      expect(victim).not.toBeNull();
      expect(seen.length).toBeGreaterThan(0);
      expect(outcome).toBeInstanceOf(OpenAI.APIError);
      expect(outcome).toMatchObject({ code: 'instance_lost' });
      expect(finishes).toEqual([]);
      console.log(`[cluster] killed ${victim} after ${seen.length} streamed chunks: instance_lost`);
      // the router keeps serving on the others, and its health says which are left
      const r = await client.chat.completions.create({
        model: MODEL,
        messages: messages('after the loss', 'still there?'),
        max_tokens: 4,
        ...IGNORE_EOS,
      });
      expect(r.choices[0]!.finish_reason).toBe('length');
      expect(router.core.decisions.at(-1)!.instance).not.toBe(victim);
      const h = await health();
      expect(h.status).toBe(200);
      expect(h.body.status).toBe('ok');
      expect(h.body.instances.map((i) => i.id).sort()).toEqual(
        alive()
          .map((i) => i.id)
          .sort(),
      );
    }, 30_000);

    it('hands back the queue of a draining instance: each request answered once, the migrated ones counted', async () => {
      const [first, second] = alive();
      expect(second).toBeDefined();
      const before = router.core.decisions.length;
      const logBefore = routerLog.length;
      const drained = longSystem('drained queues');
      const other = longSystem('the other instance');
      const sent: { name: string; done: Promise<string> }[] = [];
      const chat = (name: string, system: string, maxTokens: number, stream = false) => {
        const done = (async () => {
          if (stream) {
            const s = await client.chat.completions.create({
              model: MODEL,
              messages: messages(system, name),
              max_tokens: maxTokens,
              stream: true,
              ...IGNORE_EOS,
            });
            let finish: string | null = null;
            let tokens = 0;
            for await (const c of s) {
              finish = c.choices[0]?.finish_reason ?? finish;
              if (c.choices[0]?.delta.content) tokens++;
            }
            return `${finish} ${tokens > 0}`;
          }
          const r = await client.chat.completions.create({
            model: MODEL,
            messages: messages(system, name),
            max_tokens: maxTokens,
            ...IGNORE_EOS,
          });
          return `${r.choices[0]!.finish_reason} ${r.usage!.completion_tokens === maxTokens}`;
        })().catch((e: unknown) => `error ${(e as { code?: string }).code}: ${(e as Error).message}`);
        sent.push({ name, done });
      };
      // one request at a time into the router, so each decision sees the ones before it
      const routed = async (k: number) => until(() => router.core.decisions.length >= before + k, `decision ${k}`);
      // both instances' running slots taken: two requests on a new prefix pack onto one (X)…
      chat('filler x1', drained, 160);
      await routed(1);
      chat('filler x2', drained, 160);
      await routed(2);
      // …two on another prefix go to the other (Y), the only one with a running slot left
      chat('filler y1', other, 160);
      await routed(3);
      chat('filler y2', other, 160);
      await routed(4);
      const x = router.core.decisions[before]!.instance;
      const y = router.core.decisions[before + 2]!.instance;
      expect(new Set([x, y, first!.id, second!.id]).size).toBe(2);
      expect(x).not.toBe(y);
      // then six on X's prefix: no running slot anywhere, so they queue where the prefix is
      for (let k = 0; k < 6; k++) {
        chat(`queued ${k}`, drained, 8, k % 3 === 0);
        await routed(5 + k);
      }
      const queuedOnX = router.core.decisions.slice(before + 4).map((d) => d.instance);
      expect(queuedOnX).toEqual(Array(6).fill(x));
      const xInstance = byId(x);
      const waitingOnX = async () =>
        ((await (await fetch(`${xInstance.url}/health`)).json()) as { waitingRequests: number }).waitingRequests;
      await until(async () => (await waitingOnX()) === 6, `six requests waiting on ${x}`);
      const exited = new Promise((resolve) => xInstance.child.once('exit', (code) => resolve(code)));
      xInstance.child.kill('SIGTERM');
      const answers = await Promise.all(sent.map((s) => s.done));
      const byName = Object.fromEntries(sent.map((s, k) => [s.name, answers[k]!]));
      console.log(`[cluster] drained ${x}: ${JSON.stringify(byName)}`);
      for (const [name, answer] of Object.entries(byName)) expect(answer, name).toBe('length true');
      expect(await exited).toBe(0);

      const load = router.core.decisions.slice(before);
      const migrations = routerLog.slice(logBefore).filter((l) => l.event === 'retry');
      expect(migrations.every((m) => m.cause === 'migrated' && m.instance === x)).toBe(true);
      expect(migrations).toHaveLength(6);
      // each request routed once, and the six handed back once more: to Y
      const perRequest = countBy(load.map((d) => d.request));
      const migrated = new Set(migrations.map((m) => String(m.request)));
      expect(Object.keys(perRequest)).toHaveLength(10);
      for (const [request, n] of Object.entries(perRequest)) expect(n, request).toBe(migrated.has(request) ? 2 : 1);
      for (const d of load.filter((d) => migrated.has(d.request) && d.attempt > 1)) expect(d.instance).toBe(y);
      const metrics = await (await fetch(`${router.url}/metrics`)).text();
      expect(metrics).toContain(`tessera_router_migrated_total{instance="${x}"} 6`);
      expect(metrics).toMatch(/tessera_router_retries_total\{cause="migrated"\} 6/);
      expect(
        routerLog.slice(logBefore).some((l) => l.event === 'drop' && l.instance === x && l.reason === 'left'),
      ).toBe(true);
    }, 60_000);

    it('reports the truth on /health: ok with one instance, failing with none', async () => {
      const left = alive();
      expect(left).toHaveLength(1);
      let h = await health();
      expect(h.status).toBe(200);
      expect(h.body.instances.map((i) => i.id)).toEqual([left[0]!.id]);
      left[0]!.child.kill('SIGKILL');
      const refused = await client.chat.completions
        .create({ model: MODEL, messages: messages('nobody home', 'hello?'), max_tokens: 2 })
        .catch((e: unknown) => e);
      expect(refused).toMatchObject({ status: 503, code: 'no_instance_available' });
      h = await health();
      expect(h.status).toBe(503);
      expect(h.body.status).toBe('no_instance');
      expect((await fetch(`${router.url}/health/live`)).status).toBe(200);
    }, 30_000);
  },
);
