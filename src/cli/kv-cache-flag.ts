/** `--kv-cache f16|int8|int4` (serve, run, chat): how the KV cache stores K and V. */
import { KV_CACHE_DTYPES, type KvCacheDtype } from '../attention/kv-quant.js';

export const KV_CACHE_HELP =
  'KV cache storage: f16 (the activation dtype), int8 or int4 (per token and head; ~1.9×/~3.8× the tokens in the same memory at head dim 128)';

/** The flag's value checked; undefined when the flag is absent. */
export function parseKvCache(value: string | undefined): KvCacheDtype | undefined {
  if (value === undefined) return undefined;
  if (!(KV_CACHE_DTYPES as readonly string[]).includes(value))
    throw new Error(`--kv-cache must be one of ${KV_CACHE_DTYPES.join(', ')}, got '${value}'`);
  return value as KvCacheDtype;
}
