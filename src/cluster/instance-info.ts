/**
 * What an instance tells the cluster about itself in each heartbeat: the value under its id in the
 * NATS KV bucket `tessera-instances`. The router reads nothing else about an instance, so every
 * field a routing rule needs is here.
 */
import { z } from 'zod';

export const INSTANCES_BUCKET = 'tessera-instances';

export const instanceInfo = z.object({
  id: z.string().min(1),
  /** Where the router forwards requests (the instance's own OpenAI API). */
  baseUrl: z.string().url(),
  /** Chat and embedding model names served. */
  models: z.array(z.string()),
  /** LoRA adapters the instance can serve (host copies), by name. */
  adapters: z.array(z.string()),
  /** Adapters in device slots now: serving one of these needs no upload. */
  residentAdapters: z.array(z.string()),
  /** Requests generating at once (`--max-concurrent`) and waiting beyond those (`--max-queue`). */
  maxRunning: z.number().int().nonnegative(),
  maxQueued: z.number().int().nonnegative(),
  /** Requests admitted by the server (running or queued), and the engine's view of them. */
  activeRequests: z.number().int().nonnegative(),
  runningRequests: z.number().int().nonnegative(),
  waitingRequests: z.number().int().nonnegative(),
  pagesTotal: z.number().int().nonnegative(),
  /** KV pages neither used by a sequence nor held by the prefix cache alone. */
  pagesFree: z.number().int(),
  /** The backend and card, e.g. "cpu (WebAssembly SIMD, 2 threads)" or the GPU's name. */
  device: z.string(),
  draining: z.boolean(),
  healthy: z.boolean(),
  /** The publisher's clock (ms since the epoch), for logs; staleness is judged by the receiver's clock. */
  at: z.number(),
});

export type InstanceInfo = z.infer<typeof instanceInfo>;

/** Parses one KV value; null (and the reason) when it is not an instance record. */
export function parseInstanceInfo(text: string): { info: InstanceInfo } | { error: string } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return { error: `not JSON: ${(e as Error).message}` };
  }
  const r = instanceInfo.safeParse(json);
  return r.success ? { info: r.data } : { error: r.error.issues[0]?.message ?? 'invalid' };
}
