/**
 * The sampled scan alone (src/longctx/sampled-scan.ts), one layer of the 8B shape: 32 query heads
 * over 8 KV streams (GQA 4), head dim 128, K = 10, L = 150, each stream seeded Gaussian keys tiled
 * to the context length (`LshKvStream.tileTo`), on one thread of the CPU pool. Prints the median
 * time of one layer's scan, the candidates per head and the store's bytes per token.
 *
 * Before timing, the first head's estimate is checked against the float64 oracle on the same
 * candidates (relative error < 1e-5); a wrong answer exits 1.
 *
 * Usage: npm run build && node dist/bench/magicpig-scan.js [--lengths 16384,65536] [--repeats 15]
 */
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

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

console.log(`magicpig-scan: seed ${SEED}, dim ${D}, ${KV_HEADS} KV heads × ${GROUP}, K 10, L 150, 1 thread`);
const hash = new HeapSimHash(D, { bits: 10, tables: 150, minCollisions: 2, seed: SEED });
const rng = new Rng(SEED);
for (const n of LENGTHS) {
  const streams = Array.from({ length: KV_HEADS }, () => {
    const s = new LshKvStream(hash, D, GROUP, undefined, n);
    s.append(rng.normals(BASE * D), rng.normals(BASE * D), BASE);
    s.tileTo(n);
    return s;
  });
  const qs = Array.from({ length: KV_HEADS * GROUP }, () => rng.normals(D));
  const tasks = qs.map((q, i) => ({ stream: streams[i >> 2]!, group: i & 3, q, lo: 4, hi: n - 64 }));
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
  for (let r = 0; r <= REPEATS; r++) {
    const t0 = performance.now();
    const out = sampledStates(tasks, scale, { threads: 1 });
    const ms = performance.now() - t0;
    if (r > 0) times.push(ms);
    candidates = out.reduce((a, s) => a + s.candidates, 0) / out.length;
  }
  const bytes = streams.reduce((a, s) => a + s.bytes, 0) / KV_HEADS / n;
  console.log(
    `n ${n}: ${median(times).toFixed(2)} ms per layer (median of ${REPEATS}), ${candidates.toFixed(0)} candidates a head, ${bytes.toFixed(1)} B per token per stream`,
  );
  for (const s of streams) s.destroy();
}
hash.destroy();
