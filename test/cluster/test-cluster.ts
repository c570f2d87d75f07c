/**
 * The cluster end-to-end tests' fixture: a real nats-server, three `tessera serve --cluster`
 * processes (i0, i1, i2; built-in model, CPU backend) and the router in-process with its JSON log
 * kept, driven through the official `openai` client. Whatever `start` got running, `stop` ends,
 * even when `start` failed halfway.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { bundleCli, startInstance, startNats } from '../../scripts/cluster-processes.mjs';
import { type RunningRouter, startRouter } from '../../src/cluster/router.js';

export type ClusterInstance = Awaited<ReturnType<typeof startInstance>>;

export class TestCluster {
  readonly instances: ClusterInstance[] = [];
  /** The router's log lines, parsed, in order. */
  readonly routerLog: Record<string, unknown>[] = [];
  private dir: string | undefined;
  private nats: Awaited<ReturnType<typeof startNats>> | undefined;
  private runningRouter: RunningRouter | undefined;
  private openai: OpenAI | undefined;

  get router(): RunningRouter {
    if (!this.runningRouter) throw new Error('the cluster has not started');
    return this.runningRouter;
  }

  get client(): OpenAI {
    if (!this.openai) throw new Error('the cluster has not started');
    return this.openai;
  }

  /**
   * Starts the cluster; `flagsFor` gets a fresh temporary folder (removed by `stop`) first, to put
   * what the instances load there, and returns their extra `serve` flags.
   */
  async start(tmpPrefix: string, flagsFor: (dir: string) => string[] | Promise<string[]>): Promise<void> {
    this.dir = await mkdtemp(join(tmpdir(), tmpPrefix));
    const flags = await flagsFor(this.dir);
    const [nats, cli] = await Promise.all([startNats(), bundleCli()]);
    this.nats = nats;
    // one after another: three model loads at once on two cores only make each slower
    for (let k = 0; k < 3; k++) this.instances.push(await startInstance(cli, nats.url, `i${k}`, flags));
    this.runningRouter = await startRouter({
      servers: nats.url,
      staleMs: 1500,
      log: (l) => this.routerLog.push(JSON.parse(l)),
    });
    this.openai = new OpenAI({
      baseURL: `${this.runningRouter.url}/v1`,
      apiKey: 'unused',
      maxRetries: 0,
      timeout: 60_000,
    });
    const router = this.runningRouter;
    await until(() => router.core.roster.routable().length === 3, 'the router to see three instances', 10_000);
  }

  async stop(): Promise<void> {
    await this.runningRouter?.close();
    for (const i of this.instances) i.child.kill('SIGKILL');
    await this.nats?.stop();
    if (this.dir) await rm(this.dir, { recursive: true, force: true });
  }
}

/** Polls `cond` every 20 ms until it holds; throws naming `what` after `ms`. */
export async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export function countBy(xs: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of xs) out[x] = (out[x] ?? 0) + 1;
  return out;
}
