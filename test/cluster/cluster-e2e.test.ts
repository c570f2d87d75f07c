/**
 * Cluster mode end to end: a real nats-server, three `tessera serve --cluster` processes (built-in
 * model, CPU backend, three random LoRA adapters over two device slots each) and the router, driven
 * through the official `openai` client. Sequential probes pin the policy's choices (consolidation
 * onto one instance, the longest cached prefix beating it, a resident adapter); then a mixed load
 * of shared prefixes and adapters, streamed and not, runs while one instance is killed with
 * SIGKILL: every non-streamed request is answered without error, every stream either completes or
 * ends with an explicit `instance_lost` error, and each request is answered exactly once.
 * Skipped, with the reason in its title, where nats-server is not installed.
 */
import { join } from 'node:path';
import type OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningRouter } from '../../src/cluster/router.js';
import { writeRandomPeftAdapter } from '../../src/lora/random-adapter.js';
import { loraShapesOf } from '../../src/models/llama/adapter-graph.js';
import { openLlamaModel } from '../../src/models/llama/llama-family.js';
import { Rng } from '../../src/util/rng.js';
import { NATS_SERVER } from '../../scripts/cluster-processes.mjs';
import { countBy, TestCluster } from './test-cluster.js';

const SEED = 20261207;
const MODEL = 'tessera-builtin';
/** vLLM's extension the server honours: every answer runs to max_tokens, so lengths can be asserted. */
const IGNORE_EOS = { ignore_eos: true } as object;
const builtin = new URL('../../models/builtin/', import.meta.url).pathname;

describe.skipIf(!NATS_SERVER)(
  `cluster: 3 instances + router over nats-server${NATS_SERVER ? '' : ' (skipped: nats-server is not installed)'}`,
  () => {
    const cluster = new TestCluster();
    const { instances, routerLog } = cluster;
    let router: RunningRouter;
    let client: OpenAI;
    const lastDecision = () => router.core.decisions.at(-1)!;

    beforeAll(async () => {
      console.log(`[cluster] seed ${SEED}`);
      await cluster.start('tessera-cluster-', async (dir) => {
        const opened = await openLlamaModel(builtin);
        const shapes = loraShapesOf(opened.config);
        await opened.weights.close();
        for (let a = 0; a < 3; a++)
          await writeRandomPeftAdapter(join(dir, `a${a}`), shapes, {
            rank: 2,
            targets: ['q_proj', 'v_proj'],
            seed: SEED + a,
          });
        const flags = ['--max-concurrent', '2', '--max-queue', '8', '--max-loras', '2', '--max-lora-rank', '4'];
        for (let a = 0; a < 3; a++) flags.push('--lora', `a${a}=${join(dir, `a${a}`)}`);
        return flags;
      });
      ({ router, client } = cluster);
    }, 180_000);

    afterAll(() => cluster.stop());

    const chat = (system: string, user: string, model = MODEL, maxTokens = 4) =>
      client.chat.completions.create({
        model,
        messages: [
          { role: 'system', content: system },
          { role: 'user', content: user },
        ],
        max_tokens: maxTokens,
        ...IGNORE_EOS,
      });
    const longSystem = (topic: string) =>
      `${`You are a careful assistant for ${topic}. `.repeat(8)}Answer briefly and stay on topic.`;

    it('lists the models and adapters of the cluster', async () => {
      const ids = (await client.models.list()).data.map((m) => m.id);
      expect(ids).toEqual(expect.arrayContaining([MODEL, 'a0', 'a1', 'a2']));
    });

    it('consolidates an idle cluster onto one instance', async () => {
      for (let k = 0; k < 3; k++) {
        const r = await chat(`unique system ${k}`, `question ${k}`);
        expect(r.choices[0]!.finish_reason).toBe('length');
        expect(lastDecision()).toMatchObject({ instance: 'i0', reason: 'consolidate' });
      }
    });

    it('sends a prompt to the instance holding its prefix, over consolidation', async () => {
      // i0's two running slots taken: a prompt with a new prefix goes to the next instance
      const busy = [chat('filler one', 'x', MODEL, 48), chat('filler two', 'y', MODEL, 48)];
      await new Promise((r) => setTimeout(r, 50));
      expect(router.core.inFlightOn('i0')).toBe(2);
      const cooking = longSystem('cooking');
      await chat(cooking, 'How long do I boil an egg?');
      expect(lastDecision()).toMatchObject({ instance: 'i1', reason: 'consolidate' });
      await Promise.all(busy);
      // i0 is free again and wins consolidation by id; the cached prefix on i1 wins over it
      const r = await chat(cooking, 'And a potato?');
      expect(lastDecision()).toMatchObject({ instance: 'i1', reason: 'prefix' });
      expect(lastDecision().prefixBlocks).toBeGreaterThanOrEqual(4);
      expect(r.usage!.prompt_tokens_details?.cached_tokens).toBeGreaterThan(0);
    });

    it('sends an adapter request where the adapter is resident', async () => {
      await chat('adapter probe one', 'hello', 'a2');
      const first = lastDecision();
      await chat('adapter probe two', 'hello again', 'a2');
      expect(lastDecision()).toMatchObject({ instance: first.instance, reason: 'adapter', adapterResident: true });
    });

    it('answers every request exactly once while an instance is killed mid-load', async () => {
      const rng = new Rng(SEED);
      const prefixes = ['travel', 'gardening', 'astronomy'].map(longSystem);
      const models = [MODEL, 'a0', 'a1', 'a2'];
      const total = 36;
      const done: { k: number; ok: boolean; stream: boolean; error?: string }[] = [];
      let killed: string | null = null;
      const one = async (k: number) => {
        const stream = k % 3 === 0;
        const system = prefixes[rng.int(0, prefixes.length - 1)]!;
        const model = models[rng.int(0, models.length - 1)]!;
        const messages = [
          { role: 'system' as const, content: system },
          { role: 'user' as const, content: `request ${k}: tell me one thing` },
        ];
        try {
          if (stream) {
            const s = await client.chat.completions.create({
              model,
              messages,
              max_tokens: 12,
              stream: true,
              ...IGNORE_EOS,
            });
            let finish: string | null = null;
            for await (const chunk of s) finish = chunk.choices[0]?.finish_reason ?? finish;
            expect(finish).toBe('length');
          } else {
            const r = await client.chat.completions.create({ model, messages, max_tokens: 12, ...IGNORE_EOS });
            expect(r.choices[0]!.finish_reason).toBe('length');
            expect(r.usage!.completion_tokens).toBe(12);
          }
          done.push({ k, ok: true, stream });
        } catch (e) {
          done.push({ k, ok: false, stream, error: `${(e as { code?: string }).code}: ${(e as Error).message}` });
        }
        if (done.length === 10 && !killed) {
          // the instance with the most requests in flight dies now
          const victim = instances
            .filter((i) => i.child.exitCode === null)
            .sort((a, b) => router.core.inFlightOn(b.id) - router.core.inFlightOn(a.id))[0]!;
          console.log(`[cluster] SIGKILL ${victim.id} with ${router.core.inFlightOn(victim.id)} requests in flight`);
          killed = victim.id;
          victim.child.kill('SIGKILL');
        }
      };
      const before = router.core.decisions.length;
      let next = 0;
      await Promise.all(
        Array.from({ length: 6 }, async () => {
          while (next < total) await one(next++);
        }),
      );
      expect(killed).not.toBeNull();
      expect(done.length).toBe(total);
      expect(new Set(done.map((d) => d.k)).size).toBe(total);
      const failures = done.filter((d) => !d.ok);
      for (const f of failures) {
        // only a stream already under way on the killed instance may fail, and only explicitly
        expect(f.stream, f.error).toBe(true);
        expect(f.error).toMatch(/instance_lost|lost mid-stream/);
      }
      const load = router.core.decisions.slice(before);
      const retried = routerLog.filter((l) => l.event === 'retry' && l.instance === killed);
      console.log(
        `[cluster] ${total} requests, ${failures.length} streams ended with instance_lost, ${retried.length} retries off ${killed}, reasons ${JSON.stringify(countBy(load.map((d) => d.reason)))}`,
      );
      // each request was sent once, and again only after a retry the router logged for it
      const retriesOf = countBy(routerLog.filter((l) => l.event === 'retry').map((l) => String(l.request)));
      for (const [request, n] of Object.entries(countBy(load.map((d) => d.request))))
        expect(n, request).toBe(1 + (retriesOf[request] ?? 0));
      expect(new Set(load.map((d) => d.request)).size).toBe(total);
      expect(load.filter((d) => d.reason === 'prefix').length).toBeGreaterThan(total / 3);
      expect(load.some((d) => d.adapterResident)).toBe(true);
      // after the kill no request goes to the dead instance once the router knew of it
      const drop = routerLog.findIndex((l) => l.event === 'drop' && l.instance === killed);
      expect(drop).toBeGreaterThanOrEqual(0);
      const dropAt = Date.parse(String(routerLog[drop]!.ts));
      expect(load.filter((d) => d.instance === killed && d.at > dropAt)).toEqual([]);
      const metrics = await (await fetch(`${router.url}/metrics`)).text();
      expect(metrics).toMatch(/tessera_router_decisions_total\{reason="prefix"\} [1-9]/);
      expect(metrics).toMatch(/tessera_router_adapter_hits_total [1-9]/);
      expect(metrics).toMatch(/tessera_router_instances_dropped_total\{reason="connection_failed"\} 1/);
    }, 60_000);
  },
);
