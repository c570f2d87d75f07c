/**
 * The sampled scan alone (src/longctx/sampled-scan.ts), one layer of the 8B shape: 32 query heads
 * over 8 KV streams (GQA 4), head dim 128, K = 10, L = 150, each stream seeded Gaussian keys tiled
 * to the context length (`LshKvStream.tileTo`), the queries' codes given (as the device gives them
 * in decode), on one thread of the CPU pool. Prints the median
 * time of one layer's scan, the pool jobs it took, the candidates per head and the store's bytes
 * per token.
 *
 * `--batch B` scans B sequences per layer, each in a CPU memory of its own (as cpu-shards places
 * an 8B sequence at 16K), so the layer's tasks span B memories; `--threads T` lets the scan use T
 * threads of the pool (TESSERA_THREADS sets how many the pool has).
 *
 * Before timing, the first head's estimate is checked against the float64 oracle on the same
 * candidates (relative error < 1e-5); a wrong answer exits 1.
 *
 * Usage: npm run build && node dist/bench/magicpig-scan.js [--lengths 16384,65536] [--repeats 15]
 *   [--batch 4] [--threads 2]
 */
import { addCpuMemory, cpuRuntime } from '../src/backends/cpu/cpu-runtime.js';
import { mainShard } from '../src/longctx/cpu-shards.js';
import { HeapSimHash, LshKvStream, relativeError, sampledStateReference, sampledStates } from '../src/longctx/index.js';
import { Rng } from '../src/util/rng.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

const SEED = 20261215;
const D = 128;
const KV_HEADS = 8;
const GROUP = 4;
const BASE = 512;
const LENGTHS = arg('lengths', '16384,65536').split(',').map(Number);
const REPEATS = Number(arg('repeats', '15'));
const BATCH = Number(arg('batch', '1'));
const THREADS = Number(arg('threads', '1'));

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const pool = cpuRuntime().pool;
console.log(
  `magicpig-scan: seed ${SEED}, dim ${D}, ${KV_HEADS} KV heads × ${GROUP}, K 10, L 150, batch ${BATCH}, ${THREADS} of ${pool.threads} pool thread(s)`,
);
// one memory per sequence past the first, added before any timing (adding one restarts the workers)
const shards = Array.from({ length: BATCH }, (_, b) => (BATCH === 1 && b === 0 ? mainShard() : addCpuMemory()));
for (let waited = 0; pool.helpers < Math.min(THREADS, pool.threads) - 1 && waited < 10_000; waited += 20)
  await new Promise((r) => setTimeout(r, 20));
const hash = new HeapSimHash(D, { bits: 10, tables: 150, minCollisions: 2, seed: SEED });
const rng = new Rng(SEED);
for (const n of LENGTHS) {
  const streams = Array.from({ length: BATCH * KV_HEADS }, (_, i) => {
    const s = new LshKvStream(hash, D, GROUP, shards[Math.floor(i / KV_HEADS)], n);
    s.append(rng.normals(BASE * D), rng.normals(BASE * D), BASE);
    s.tileTo(n);
    return s;
  });
  const qs = Array.from({ length: BATCH * KV_HEADS * GROUP }, () => rng.normals(D));
  // the queries' codes come with them, as in decode (hashed on the device beside q): the pool runs the scan alone
  const tasks = qs.map((q, i) => ({
    stream: streams[i >> 2]!,
    group: i & 3,
    q,
    lo: 4,
    hi: n - 64,
    codes: hash.simhash.hashRows(Float32Array.from(q), 1),
  }));
  const scale = 1 / Math.sqrt(D);
  // the answer first: head 0's estimate against the float64 oracle on the same candidates
  const [probe] = sampledStates([tasks[0]!], scale, { threads: 1, keepIds: true });
  const s0 = streams[0]!;
  const want = sampledStateReference(tasks[0]!.q, s0.keyRows(0, n), s0.valueRows(0, n), D, D, probe!.ids!, scale, {
    bits: 10,
    tables: 150,
    minCollisions: 2,
    seed: SEED,
  });
  const err = relativeError(probe!.o, want.o);
  if (!(err < 1e-5)) {
    console.error(`FAIL magicpig-scan: n ${n}: head 0's estimate is ${err.toExponential(2)} from the float64 oracle`);
    process.exit(1);
  }
  console.log(`check ok: n ${n}: head 0's estimate within ${err.toExponential(2)} of the float64 oracle`);
  let candidates = 0;
  const times: number[] = [];
  let jobs = 0;
  for (let r = 0; r <= REPEATS; r++) {
    const split0 = pool.stats.split;
    const t0 = performance.now();
    const out = sampledStates(tasks, scale, { threads: THREADS });
    const ms = performance.now() - t0;
    if (r > 0) times.push(ms);
    jobs = pool.stats.split - split0;
    candidates = out.reduce((a, s) => a + s.candidates, 0) / out.length;
  }
  const bytes = streams.reduce((a, s) => a + s.bytes, 0) / streams.length / n;
  console.log(
    `n ${n}: ${median(times).toFixed(2)} ms per layer (median of ${REPEATS}), ${jobs} pool job(s) per layer, ${candidates.toFixed(0)} candidates a head, ${bytes.toFixed(1)} B per token per stream`,
  );
  for (const s of streams) s.destroy();
}
hash.destroy();
