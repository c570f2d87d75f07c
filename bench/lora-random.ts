/**
 * Random weights made in memory for the LoRA bench: an 8B-shape base and 64 adapters of rank 64
 * drawn number by number would take minutes of RNG and tens of GB, so every tensor is cut from a
 * small pool of normals (a window at its own seeded offset, the pool's length coprime to every row
 * width so rows differ). The values are not independent across tensors, which the bench does not
 * need: it times kernels and checks that rows computed two ways agree.
 */
import type { TensorInfo, TensorSource } from '../src/io/tensor-source.js';
import type { LoraAdapter, LoraPair } from '../src/lora/peft-adapter.js';
import type { LoraBaseShapes, LoraModule } from '../src/lora/modules.js';
import type { LlamaConfig } from '../src/models/llama/llama-config.js';
import { llamaTensorShapes } from '../src/models/llama/llama-tensors.js';
import { type HostArray, bytesPerElement, numel, toHost } from '../src/tensor/dtype.js';
import { Rng } from '../src/util/rng.js';

/** Odd and not a multiple of 3, 5 or 7: no row width of a Llama divides it. */
const POOL = 1_048_573;

/** `n` values of `pool`, cyclically from `offset`. */
function cyclic<T extends HostArray>(pool: T, make: (n: number) => T, n: number, offset: number): T {
  const out = make(n);
  let at = 0;
  let from = offset % pool.length;
  while (at < n) {
    const take = Math.min(n - at, pool.length - from);
    out.set(pool.subarray(from, from + take) as never, at);
    at += take;
    from = 0;
  }
  return out;
}

/**
 * A Llama checkpoint of `dtype` weights: norms near 1, projections and embeddings at
 * 1/sqrt(fan-in) (as random-checkpoint.ts draws them), every tensor at a fresh seeded offset.
 */
export function randomLlamaSource(config: LlamaConfig, dtype: 'bf16' | 'f16' | 'f32', seed: number): TensorSource {
  const rng = new Rng(seed);
  const normals = rng.normals(POOL, 1);
  const pools = new Map<number, HostArray>();
  const poolOf = (scale: number, shift: number): HostArray => {
    const key = scale * 1e6 + shift;
    if (!pools.has(key))
      pools.set(
        key,
        toHost(
          dtype,
          Array.from(normals, (v) => shift + scale * v),
        ),
      );
    return pools.get(key)!;
  };
  const tensors = new Map<string, TensorInfo>();
  const offsets = new Map<string, number>();
  for (const [name, shape] of llamaTensorShapes(config)) {
    tensors.set(name, { dtype, shape, byteLength: numel(shape) * bytesPerElement(dtype), file: 'memory' });
    offsets.set(name, rng.int(0, POOL - 1));
  }
  const read = async (name: string): Promise<HostArray> => {
    const info = tensors.get(name);
    if (!info) throw new Error(`random source: no tensor '${name}'`);
    const pool = name.endsWith('norm.weight') ? poolOf(0.1, 1) : poolOf(1 / Math.sqrt(info.shape[1]!), 0);
    const make = (n: number) => new (pool.constructor as new (n: number) => HostArray)(n);
    return cyclic(pool, make, numel(info.shape), offsets.get(name)!);
  };
  return {
    tensors,
    read,
    async readInto(name, target) {
      const data = await read(name);
      const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      target.set(bytes);
      return bytes.byteLength;
    },
    close: async () => {},
  };
}

/**
 * An adapter of `rank` on every projection, its A and B windows of shared pools (no copy): A at
 * 1/sqrt(in) so x·Aᵀ is unit-sized, B so the adapter's delta is `strength` of x's size (as
 * random-adapter.ts draws them; PEFT's scale alpha/r with alpha = 2r).
 */
export function randomLoraAdapter(
  name: string,
  base: LoraBaseShapes,
  targets: readonly LoraModule[],
  rank: number,
  seed: number,
  strength = 0.5,
): LoraAdapter {
  const rng = new Rng(seed);
  const scale = 2;
  const pool = sharedPool();
  const window = (n: number, std: number): Float32Array => {
    const p = pool.of(std, n);
    const at = rng.int(0, p.length - n);
    return p.subarray(at, at + n);
  };
  let bytes = 0;
  const layers = Array.from({ length: base.numLayers }, () => {
    const m = new Map<LoraModule, LoraPair>();
    for (const t of targets) {
      const [out, inn] = base.modules[t];
      const pair = {
        a: window(rank * inn, 1 / Math.sqrt(inn)),
        b: window(out * rank, strength / (scale * Math.sqrt(rank))),
      };
      bytes += 4 * (pair.a.length + pair.b.length);
      m.set(t, pair);
    }
    return m;
  });
  return {
    name,
    config: { rank, alpha: scale * rank, useRslora: false, scale, targets: [...targets], baseModel: null },
    layers,
    bytes,
  };
}

/** f32 normals at each standard deviation asked for, long enough for the largest window plus room to move. */
const adapterPools = new Map<number, Float32Array>();

function sharedPool() {
  const pools = adapterPools;
  return {
    of(std: number, n: number): Float32Array {
      const have = pools.get(std);
      if (have && have.length >= 2 * n) return have;
      const rng = new Rng(7);
      const p = Float32Array.from(rng.normals(Math.max(2 * n, POOL), std));
      pools.set(std, p);
      return p;
    },
  };
}
