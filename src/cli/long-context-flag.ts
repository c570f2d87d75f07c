/**
 * `--long-context <spec>` (serve and run): the engine's long-context mode (src/longctx) as one
 * comma-separated list of settings, e.g.
 *   threshold=8192,K=10,L=150,sinks=4,window=64,dense=0:16,policy=magicpig,cpu-gib=64
 * policy: magicpig (default), exact, streaming, topk:<k>, quest:<pageSize>:<pages>.
 */
import type { LongContextOptions } from '../longctx/options.js';
import { checkLongContextOptions } from '../longctx/options.js';
import type { MiddlePolicy } from '../longctx/policies.js';

export const LONG_CONTEXT_FLAG_HELP =
  'long-context mode past a length: threshold=N,K=bits,L=tables[,sinks=N][,window=N][,dense=0:16][,policy=magicpig|exact|streaming|topk:k|quest:P:n][,cpu-gib=G][,seed=S]';

function policyOf(v: string): MiddlePolicy {
  const [kind, ...args] = v.split(':');
  const n = args.map(Number);
  if (kind === 'magicpig' || kind === 'exact' || kind === 'streaming') return { kind };
  if (kind === 'topk' && n.length === 1) return { kind, k: n[0]! };
  if (kind === 'quest' && n.length === 2) return { kind, pageSize: n[0]!, pages: n[1]! };
  throw new Error(`--long-context policy: '${v}' is not magicpig, exact, streaming, topk:k or quest:P:n`);
}

export function parseLongContextFlag(spec: string): LongContextOptions {
  const kv = new Map<string, string>();
  for (const part of spec.split(',').filter((p) => p.trim() !== '')) {
    const [k, v] = part.split('=').map((s) => s.trim());
    if (!k || v === undefined) throw new Error(`--long-context: '${part}' is not key=value`);
    kv.set(k, v);
  }
  const num = (k: string, dflt?: number): number => {
    const v = kv.get(k);
    if (v === undefined) {
      if (dflt === undefined) throw new Error(`--long-context needs ${k}=…`);
      return dflt;
    }
    const n = Number(v);
    if (!Number.isFinite(n)) throw new Error(`--long-context ${k}: '${v}' is not a number`);
    return n;
  };
  const known = new Set(['threshold', 'K', 'L', 'T', 'sinks', 'window', 'dense', 'policy', 'cpu-gib', 'seed']);
  for (const k of kv.keys()) if (!known.has(k)) throw new Error(`--long-context: unknown setting '${k}'`);
  const dense = kv.get('dense');
  const o: LongContextOptions = {
    threshold: num('threshold'),
    K: num('K'),
    L: num('L'),
    minCollisions: num('T', 2),
    sinks: num('sinks', 4),
    window: num('window', 64),
    ...(dense ? { denseLayers: dense.split(':').map(Number) } : {}),
    ...(kv.has('policy') ? { policy: policyOf(kv.get('policy')!) } : {}),
    ...(kv.has('cpu-gib') ? { cpuBytes: Math.floor(num('cpu-gib') * 2 ** 30) } : {}),
    seed: num('seed', 0),
  };
  checkLongContextOptions(o);
  return o;
}
